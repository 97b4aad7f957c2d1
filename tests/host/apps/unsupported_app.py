"""Test-only app with a trigger the local host cannot serve."""

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="item", queue_name="jobs", connection="AzureWebJobsStorage")
def storage_queue(item: func.QueueMessage) -> None: ...
