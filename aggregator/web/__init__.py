"""The desk in a browser (issue 15) and the reader API (issue 16): a Starlette app over the facade."""
