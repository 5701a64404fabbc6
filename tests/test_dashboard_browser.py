"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against a real server process.

A worker's progress is written to the SQLite file by this process, as a worker would; the page must show
the bar move without a reload, and a click must show the task's history.
"""

from __future__ import annotations

from pathlib import Path

from server_process import LiveServer, require, require_program

from batchstore import BatchStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def test_progress_moves_live_and_history_opens(dashboard_server: LiveServer, tmp_path: Path) -> None:
    require_program(CHROMIUM, "bash .ci/browser.sh installs it")
    require("playwright")
    from playwright.sync_api import expect, sync_playwright

    url, db = dashboard_server.url, dashboard_server.db_path
    with BatchStore(db) as store:
        store.create_many([
            {"Name": "NightlyBackup", "Description": "Archive yesterday's documents", "State": "Succeeded",
             "ProgressPercent": 100, "ProgressDescription": "1,204 files archived", "Result": "Success"},
            {"Name": "MailingDispatch", "Description": "Spring newsletter", "State": "Failed",
             "ProgressPercent": 35, "ProgressDescription": "Stopped at 3,500 of 10,000", "Result": "SMTP refused"},
            {"Name": "ContactExport", "Description": "Export contacts to CSV", "State": "SucceededManualCleanup",
             "ProgressPercent": 100, "Result": "Temporary files left in /tmp/export"},
            {"Name": "IndexRebuild", "Description": "Rebuild the free-text index"},
        ])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1360, "height": 900})
                page.goto(url + "/")
                expect(page.locator("#conn")).to_have_attribute("data-state", "live")
                expect(page.locator("#state-Succeeded .count")).to_have_text("1")

                # A task created now appears without a reload, under New.
                task_id = store.create({
                    "Name": "ERPSync", "Description": "Synchronize customer and order data from SAP ERP",
                })
                row = page.locator(f'li.task[data-task-id="{task_id}"]')
                bar = row.get_by_role("progressbar")
                expect(page.locator("#state-New").locator(row)).to_be_visible()
                expect(bar).to_have_attribute("aria-valuenow", "0")

                claimed = store.acquire(name="ERPSync", worker="worker-1")
                assert claimed is not None and claimed.id == task_id
                store.start(task_id, worker="worker-1")
                expect(page.locator("#state-Started").locator(row)).to_be_visible()
                expect(page.locator("#state-New .count")).to_have_text("1")

                store.report_progress(task_id, 10, "65 of 650 records", worker="worker-1")
                expect(bar).to_have_attribute("aria-valuenow", "10")
                expect(row).to_contain_text("65 of 650 records")
                store.report_progress(task_id, 60, "390 of 650 records", worker="worker-1")
                expect(bar).to_have_attribute("aria-valuenow", "60")
                expect(bar).to_have_attribute("aria-valuetext", "60%, 390 of 650 records")
                expect(row).to_contain_text("390 of 650 records")
                # The fill is drawn at that width (its transition has settled within the wait).
                page.wait_for_function(
                    """id => { const f = document.querySelector(`li[data-task-id="${id}"] .fill`);
                               return Math.abs(f.offsetWidth / f.parentElement.offsetWidth - 0.6) < 0.02; }""",
                    arg=task_id,
                )

                # A click opens its history, which follows further changes while open.
                row.get_by_role("button").click()
                panel = page.locator("#panel")
                expect(panel).to_be_visible()
                expect(panel.locator("#panel-title")).to_have_text("ERPSync")
                history = panel.locator("#history > li")
                expect(history).to_have_count(len(store.history(task_id)))
                expect(panel).to_contain_text("worker-1")
                expect(history.first).to_contain_text("390 of 650 records")
                expect(history.last).to_contain_text("Created")
                store.report_progress(task_id, 75, "488 of 650 records", worker="worker-1")
                expect(history).to_have_count(len(store.history(task_id)))
                expect(bar).to_have_attribute("aria-valuenow", "75")
                page.wait_for_timeout(700)  # the bar's glide, so the screenshot shows where it landed

                # Only under tmp_path, as everything a test writes (pytest keeps the last runs' folders to look at).
                page.screenshot(path=str(tmp_path / "dashboard.png"))

                page.keyboard.press("Escape")
                expect(panel).to_be_hidden()
            finally:
                browser.close()


def test_behind_a_token_the_browser_prompt_signs_in(dashboard_token_server: LiveServer) -> None:
    """With ``--token``, the page, its event stream and the history need it: the browser's Basic prompt
    (the token as password, which Playwright's credentials answer) signs in once for all of them."""
    require_program(CHROMIUM, "bash .ci/browser.sh installs it")
    require("playwright")
    from playwright.sync_api import expect, sync_playwright

    server = dashboard_token_server
    assert server.token is not None
    with BatchStore(server.db_path) as store, sync_playwright() as pw:
        task_id = store.create({"Name": "ERPSync"})
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            anonymous = browser.new_page()
            for path in ("/", "/batchstore/v1/events", f"/batchstore/v1/tasks/{task_id}/history"):
                assert anonymous.request.get(server.url + path).status == 401, path
            page = browser.new_page(http_credentials={"username": "dashboard", "password": server.token})
            page.goto(server.url + "/")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            bar = page.locator(f'li.task[data-task-id="{task_id}"]').get_by_role("progressbar")
            store.acquire(worker="w")
            store.start(task_id, worker="w")
            store.report_progress(task_id, 30, "a third", worker="w")
            expect(bar).to_have_attribute("aria-valuenow", "30")
            bar.click()
            expect(page.locator("#history > li")).to_have_count(len(store.history(task_id)))
        finally:
            browser.close()
