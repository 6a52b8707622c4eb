"""Request and response formats: Converse, and the native InvokeModel body of each model family.

Each codec turns its wire body into a neutral ``Prompt`` and renders a finished ``Outcome`` back
into its own response body or stream events.
"""
