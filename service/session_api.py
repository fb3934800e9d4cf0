"""The bodies of /sessions/*, composed from the Session subclasses the tasks register: a step takes every
session task's fields (each session reads its own) and answers in its task's field."""
from __future__ import annotations

import inspect
from typing import Annotated

from pydantic import BaseModel, Field, create_model

from service.sessions import MAX_STEP_ID_CHARS, REMEMBERED_STEPS
from service.tasks import SESSIONS
from zoo.registry import list_models

_EXAMPLE_TASK = next(iter(SESSIONS))
SessionId = Annotated[str, Field(min_length=1, max_length=64, description="from /sessions/start",
                                 examples=["kq3Vb0l8mX2J1nQeZ6cT4w"])]
StepId = Annotated[str | None, Field(
    min_length=1, max_length=MAX_STEP_ID_CHARS, pattern=r"^[A-Za-z0-9._:-]+$", examples=["7f3c2a-0001"],
    description=f"optional, chosen by the client (letters, digits and ._:-): a step sent again with the same id is "
                f"not applied twice, it gets the first answer (a session remembers its last {REMEMBERED_STEPS} ids)")]
SessionModel = Annotated[str, Field(min_length=1, max_length=100,
                                    description=f"a {' or '.join(SESSIONS)} model listed by GET /models",
                                    examples=[list_models(_EXAMPLE_TASK)[0]])]
# The fields a step must send, one per session task: a session refuses the others'.
PRIMARY_FIELDS = {task: session.primary_field for task, session in SESSIONS.items()}


class SessionStartResponse(BaseModel):
    session_id: str
    model: str = Field(examples=[list_models(_EXAMPLE_TASK)[0]])
    task: str = Field(description=f"{' or '.join(repr(task) for task in SESSIONS)}: which step fields apply",
                      examples=[_EXAMPLE_TASK])
    expires_in_s: float = Field(description="idle seconds after which the session is evicted", examples=[900])


SessionStepResponse = create_model(
    "SessionStepResponse", session_id=(str, ...), model=(str, ...),
    **{task: session.answer_schema for task, session in SESSIONS.items()})


def with_step_fields(step):
    """Give /sessions/step the signature BentoML reads its request body from: the session id, then every
    session task's step fields (the function itself takes them as **fields)."""
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                  inspect.Parameter("session_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=SessionId),
                  inspect.Parameter("step_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=StepId, default=None)]
    declared = {}  # a field several tasks' sessions read (temperature, seed) is one field, as the first declares it
    for session in SESSIONS.values():
        for name, definition in session.step_fields.items():
            declared.setdefault(name, definition)
    parameters += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation,
                                     default=default) for name, (annotation, default) in declared.items()]
    step.__signature__ = inspect.Signature(parameters, return_annotation=SessionStepResponse)
    return step


class SessionEndResponse(BaseModel):
    session_id: str
    ended: bool = True
