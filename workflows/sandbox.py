"""The workflow sandbox, told which libraries it may share with the worker process.

pydantic, email-validator and phonenumbers run inside the models' validators when a case's input is
decoded. They are deterministic, and email-validator imports parts of itself lazily, which the
sandbox would otherwise re-import (and warn about) on every workflow run.
"""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

SHARED_MODULES = ("pydantic", "pydantic_core", "email_validator", "idna", "phonenumbers", "dns")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_MODULES)
    )
