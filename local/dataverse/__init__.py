"""The Dataverse sandbox (Web API subset + data events): see server.py."""
