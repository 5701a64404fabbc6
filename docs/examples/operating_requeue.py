from batchstore import BatchStore

with BatchStore("operations.db") as ops:
    failed = ops.create({"Name": "MailingDispatch", "State": "Failed", "Result": "SMTP refused"})
    print(ops.requeue(failed, by="ops on call").state.name)                  # New
    print([(h.operation, h.worker) for h in ops.history(failed)][-1])        # ('requeue', 'ops on call')
    print(ops.acquire(worker="mailer").id == failed)                         # True: a worker takes it again
