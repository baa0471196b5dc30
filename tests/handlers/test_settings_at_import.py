"""Every function's settings are read at import (cold start): a missing or malformed variable fails
the init, naming the variable; what a function does not declare it does not need.

The environment is the template's (Globals + the function's own), with placeholder resource
names; each function's declared variables are read from its settings class, so a variable added
to a settings class is covered here without listing it.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest

from datapipe.settings import FunctionSettings, InvalidSettings
from tests.handlers.direct import (
    TEMPLATE,
    function_source,
    service_logger_restored,
)
from tests.handlers.direct import (
    import_app as _import_app,
)

FUNCTIONS = sorted(k for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Serverless::Function")
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]


def import_app(path: Any, env: dict[str, str | None]) -> Any:
    """Import with the function's loggers put back afterwards (see ``service_logger_restored``)."""
    with service_logger_restored(env.get("POWERTOOLS_SERVICE_NAME")):
        return _import_app(path, env)


def _placeholder(variable: str, value: Any) -> str | None:
    if isinstance(value, (str, int, float)):
        return str(value)
    if "Fn::If" in value:  # the template's only conditional value: POWERTOOLS_LOG_LEVEL (not prod)
        return _placeholder(variable, value["Fn::If"][2])
    ref = value.get("Ref")
    if ref in PARAMETERS:
        return str(PARAMETERS[ref]["Default"])
    if variable.endswith("_ARN"):
        return f"arn:aws:sns:us-east-1:123456789012:placeholder-{ref}"
    return f"placeholder-{ref}".lower()


def template_environment(logical_id: str) -> dict[str, str | None]:
    variables = {
        **TEMPLATE["Globals"]["Function"]["Environment"]["Variables"],
        **RESOURCES[logical_id]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    env = {k: _placeholder(k, v) for k, v in variables.items()}
    return {**env, "AWS_SAM_LOCAL": "true", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def declared(logical_id: str) -> dict[str, Any]:
    """env variable -> annotation, of the settings class the function's module builds."""
    module = import_app(function_source(logical_id)[0], template_environment(logical_id))
    settings = module.settings
    assert isinstance(settings, FunctionSettings), f"{logical_id}: settings is a {type(settings)}"
    return {f.alias: f.annotation for f in type(settings).model_fields.values()}


DECLARED = {fn: declared(fn) for fn in FUNCTIONS}
CASES = [(fn, var) for fn in FUNCTIONS for var in sorted(DECLARED[fn])]


def malformed(annotation: Any) -> str:
    if annotation is float:
        return "high"
    if typing.get_origin(annotation) is typing.Literal:
        return "SEVERE"
    return "not valid!"  # no pattern of ours takes a space: bucket, table, ARN, bus, source, name


def test_every_function_builds_settings_of_its_own_from_the_template_environment() -> None:
    # 17 + end of day, the monthly report and its deadline check, the freshness checker
    assert len(FUNCTIONS) == 21
    assert all(DECLARED[fn] for fn in FUNCTIONS)
    # each declares what it reads, not the Globals' 21 variables
    assert max(len(v) for v in DECLARED.values()) < 21
    assert DECLARED["PublishFunction"].keys() == {
        "CURATED_BUCKET",
        "GLUE_DATABASE",
        "RECORD_IDS_TABLE",
        "DELIVERY_TABLE",
    }
    # a refused or failed run gives back its id and content claims (and interrupted files)
    assert DECLARED["QuarantineFunction"].keys() == {
        "QUARANTINE_BUCKET",
        "CURATED_BUCKET",
        "RECORD_IDS_TABLE",
        "DELIVERY_TABLE",
    }


@pytest.mark.parametrize(("fn", "variable"), CASES)
def test_a_missing_variable_fails_the_import_naming_it(fn: str, variable: str) -> None:
    env = {**template_environment(fn), variable: None}
    with pytest.raises(InvalidSettings) as err:
        import_app(function_source(fn)[0], env)
    assert err.value.variables == [variable]
    assert f"environment variable {variable} is not set" in str(err.value)


@pytest.mark.parametrize(("fn", "variable"), CASES)
def test_a_malformed_variable_fails_the_import_naming_it(fn: str, variable: str) -> None:
    env = {**template_environment(fn), variable: malformed(DECLARED[fn][variable])}
    with pytest.raises(InvalidSettings) as err:
        import_app(function_source(fn)[0], env)
    assert err.value.variables == [variable]
    assert f"environment variable {variable} " in str(err.value)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_an_empty_variable_counts_as_unset(fn: str) -> None:
    variable = sorted(DECLARED[fn])[0]
    with pytest.raises(InvalidSettings, match=f"{variable} is not set"):
        import_app(function_source(fn)[0], {**template_environment(fn), variable: "  "})


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_variables_a_function_does_not_declare_are_not_needed(fn: str) -> None:
    env = template_environment(fn)
    undeclared = [
        k for k in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"] if k not in DECLARED[fn]
    ]
    module = import_app(function_source(fn)[0], {**env, **dict.fromkeys(undeclared)})
    assert isinstance(module.settings, FunctionSettings)
