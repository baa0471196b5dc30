"""Docker-free offline AWS runtime on moto, for tests, the demo and `make invoke`.

Never shipped to Lambda (no template resource points here). It adapts moto to the code:
deploys the real template.yaml into moto, runs functions in-process at moto's Lambda invoke
seam, and delivers the EventBridge targets moto does not.
"""
