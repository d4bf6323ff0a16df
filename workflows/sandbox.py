"""The workflow sandbox, told which libraries it may share with the worker process.

pydantic, email-validator and phonenumbers run inside the models' validators when a case's input is
decoded. They are deterministic, and email-validator imports parts of itself lazily, which the
sandbox would otherwise re-import (and warn about) on every workflow run.
"""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

SHARED_MODULES = ("pydantic", "pydantic_core", "email_validator", "idna", "phonenumbers", "dns")


def workflow_runner(*, isolated: bool = True) -> SandboxedWorkflowRunner:
    """The sandbox; `isolated=False` imports the workflow's own modules once, not once per case.

    Either way workflow code runs under the sandbox's runtime restrictions (no clock, randomness or
    I/O). Isolation also keeps module-level state apart between cases; sharing saves the re-import
    (about 20 ms of CPU per case here: `python -m bench.replay_cost`) and a copy of the modules for
    every cached case.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*SHARED_MODULES)
    if not isolated:
        restrictions = restrictions.with_passthrough_all_modules()
    return SandboxedWorkflowRunner(restrictions=restrictions)
