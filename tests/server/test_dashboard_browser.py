"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against a real server process.

A worker's progress is written to the SQLite file by this process, as a worker would; the page must show
the bar move without a reload, and a click must show the task's history.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Database
from server_process import LiveServer, require, require_program, running_server

from batchstore import BatchStore, BatchTaskState

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


def test_behind_a_token_the_page_asks_for_it_once_and_sends_it_in_a_header(
    dashboard_token_server: LiveServer,
) -> None:
    """With ``--token`` the page loads (it holds no data), asks for the token, and sends it as a Bearer header
    with every request for data: no cookie is set and the browser is never asked for a password."""
    require_program(CHROMIUM, "bash .ci/browser.sh installs it")
    require("playwright")
    from playwright.sync_api import expect, sync_playwright

    server = dashboard_token_server
    assert server.token is not None
    with BatchStore(server.db_path) as store, sync_playwright() as pw:
        task_id = store.create({"Name": "ERPSync"})
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            for path in ("/batchstore/v1/events", f"/batchstore/v1/tasks/{task_id}/history", "/metrics",
                         "/batchstore/v1/tasks?state=New"):
                assert page.request.get(server.url + path).status == 401, path
            sent: list[str | None] = []
            page.on("request", lambda r: sent.append(r.headers.get("authorization"))
                    if "/batchstore/v1/" in r.url else None)
            page.goto(server.url + "/")
            expect(page.locator("#auth")).to_be_visible()
            expect(page.locator("#conn")).to_have_attribute("data-state", "down")
            page.locator("#token").fill(server.token)
            page.get_by_role("button", name="Connect").click()
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            bar = page.locator(f'li.task[data-task-id="{task_id}"]').get_by_role("progressbar")
            store.acquire(worker="w")
            store.start(task_id, worker="w")
            store.report_progress(task_id, 30, "a third", worker="w")
            expect(bar).to_have_attribute("aria-valuenow", "30")
            bar.click()
            expect(page.locator("#history > li")).to_have_count(len(store.history(task_id)))
            assert f"Bearer {server.token}" in sent  # asked once, then sent with each request for data
            assert context.cookies() == []
        finally:
            browser.close()


@pytest.fixture
def board(db: Database) -> Iterator[LiveServer]:
    """A server process on the test's database, on each engine."""
    db.open().close()
    with running_server(db.target) as server:  # type: ignore[arg-type]
        yield server


def test_actions_change_the_database_and_the_page_follows_through_the_feed(
    board: LiveServer, db: Database, tmp_path: Path
) -> None:
    require_program(CHROMIUM, "bash .ci/browser.sh installs it")
    require("playwright")
    from playwright.sync_api import Dialog, expect, sync_playwright

    with db.open() as store, sync_playwright() as pw:
        failed = store.create({"Name": "MailingDispatch", "State": "Failed", "Result": "SMTP refused",
                               "Created": "2014-07-15T14:34:02+02:00", "AssociateId": 602})
        updated = store.create({"Name": "ContactExport", "Description": "finished by UpdateBatchTask"})
        store.update({"Id": updated, "State": "Succeeded"})  # ProgressPercent stays 0 in the store
        backlog = store.create_many([{"Name": f"Backlog {i}"} for i in range(60)])
        running = store.create({"Name": "ERPSync", "Description": "Synchronize with SAP"})
        store.acquire(name="ERPSync", worker="worker-1")
        store.start(running, worker="worker-1")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            dialogs: list[str] = []
            before_accept: list[Callable[[], object]] = []  # what happens while a confirmation is open

            def confirm(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                while before_accept:
                    before_accept.pop()()
                dialog.accept()

            page.on("dialog", confirm)
            page.goto(board.url + "/")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            expect(page.locator("#database")).to_have_text(store.database)

            # Counts come from SQL; each state shows a page and fetches more on demand.
            expect(page.locator("#state-New .count")).to_have_text("60")
            expect(page.locator("#state-New li.task")).to_have_count(50)
            page.locator("#state-New .more-button").click()
            expect(page.locator("#state-New li.task")).to_have_count(60)
            expect(page.locator("#state-New .more")).to_be_hidden()
            assert page.locator(f'li.task[data-task-id="{backlog[0]}"]').count() == 1

            # Finished through an update: the bar is full under Succeeded. An old task's age reads in years.
            done_row = page.locator(f'#state-Succeeded li.task[data-task-id="{updated}"]')
            expect(done_row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
            failed_row = page.locator(f'li.task[data-task-id="{failed}"]')
            expect(failed_row.locator(".task-when")).to_have_text(re.compile(r"created \d+ years ago"))

            # Progress reports give a rate and an ETA on the bar.
            store.report_progress(running, 1, "7 of 650 records", worker="worker-1")
            time.sleep(1.0)
            store.report_progress(running, 2, "13 of 650 records", worker="worker-1")  # 98 % left: a minute or more
            running_row = page.locator(f'li.task[data-task-id="{running}"]')
            expect(running_row.locator(".task-eta")).to_contain_text("%/min")
            expect(running_row.locator(".task-eta")).to_contain_text("done in about")

            # Requeue a failed task: confirmed, written to the database, and the page moves it through the feed.
            failed_row.get_by_role("button").click()
            panel = page.locator("#panel")
            expect(panel.locator("#panel-title")).to_have_text("MailingDispatch")
            panel.get_by_role("button", name="Requeue").click()
            expect(page.locator(f'#state-New li.task[data-task-id="{failed}"]')).to_be_visible()
            assert store.get(failed).state is BatchTaskState.New
            assert store.history(failed)[-1].operation == "requeue" and "Requeue task" in dialogs[-1]
            expect(panel.locator("#action-result")).to_contain_text("Requeued")
            expect(page.locator("#state-Failed .count")).to_have_text("0")

            # A refusal shows the server's own words: the task finished while the confirmation was open.
            running_row.get_by_role("button").click()
            expect(panel.locator("#panel-title")).to_have_text("ERPSync")
            before_accept.append(lambda: store.fail(running, result="gave up", worker="worker-1"))
            panel.get_by_role("button", name="Stop").click()
            expect(panel.locator("#action-result")).to_contain_text("was not stopped: its State is Failed")
            expect(page.locator(f'#state-Failed li.task[data-task-id="{running}"]')).to_be_visible()

            # The label is "Acquired" everywhere on the page, history included.
            expect(page.locator("#history")).to_contain_text("Acquired")
            assert "Aquired" not in page.locator("body").inner_text()

            # Delete: gone from the database and from the page.
            panel.get_by_role("button", name="Delete").click()
            expect(page.locator(f'li.task[data-task-id="{running}"]')).to_have_count(0)
            assert store.count(where={"Id": running}) == 0

            # The search asks the server: name, state, associate.
            page.locator("#filter").fill("state:acquired")
            expect(page.locator("#state-New .count")).to_have_text("0")
            page.locator("#filter").fill("associate:602")
            expect(page.locator("#state-New li.task")).to_have_count(1)
            expect(page.locator("#state-New .count")).to_have_text("1")
            page.locator("#filter").fill('name:"backlog 5"')
            expect(page.locator("#state-New li.task")).to_have_count(11)  # 5, 50..59
            page.locator("#filter").fill("state:nonsense")
            expect(page.locator("#search-error")).to_contain_text("names no State")
            page.locator("#filter").fill("")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            page.screenshot(path=str(tmp_path / "dashboard-actions.png"), full_page=False)
        finally:
            browser.close()
