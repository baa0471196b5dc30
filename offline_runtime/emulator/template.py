"""A SAM template as `sam package` + the SAM transform would hand it to CloudFormation.

- parsed with libyaml (CloudFormation's short-form tags ``!Ref``, ``!Sub``, ``!GetAtt a.b`` …);
- packaged: every ``CodeUri``/``ContentUri`` becomes an S3 location (the code itself stays local:
  the Lambda runtime imports it from the function's directory) and every ``DefinitionUri`` of a
  state machine is inlined;
- translated by aws-sam-translator (the library `sam` uses) into plain CloudFormation.

The translation is cached on disk keyed by everything it depends on (the template, the state
machine definitions, the parameter values, the region and the translator's version), so
deploying an unchanged template again skips the translator (and its import).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ARTIFACT_BUCKET = "offline-sam-artifacts"
ACCOUNT_ID = "123456789012"


def _intrinsic(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Any:
    tag = node.tag[1:]
    name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"
    value: Any
    if tag == "GetAtt" and isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node).split(".", 1)
    elif isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


class _CfnLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """libyaml SafeLoader + CloudFormation tags; timestamps stay strings (as the AWS CLI reads them)."""


_CfnLoader.add_multi_constructor("!", _intrinsic)
_CfnLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def load_template(path: Path) -> dict[str, Any]:
    text = path.read_text()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = yaml.load(text, Loader=_CfnLoader)
    if not isinstance(parsed, dict) or "Resources" not in parsed:
        raise ValueError(f"{path}: not a CloudFormation/SAM template (no Resources)")
    return parsed


@dataclass
class FunctionCode:
    logical_id: str
    code_dir: Path
    handler: str
    runtime: str


@dataclass
class Packaged:
    """The template after packaging, plus where each function's and layer's code lives locally."""

    template: dict[str, Any]
    functions: dict[str, FunctionCode] = field(default_factory=dict)  # logical id -> code
    layers: dict[str, Path] = field(default_factory=dict)  # logical id -> local content dir
    artifacts: dict[str, bytes] = field(default_factory=dict)  # artifact bucket key -> body


def package(template: dict[str, Any], root: Path) -> Packaged:
    """What `sam package` does: local paths -> S3 locations; state machine definitions inlined."""
    tpl = copy.deepcopy(template)
    globals_fn = tpl.get("Globals", {}).get("Function", {})
    out = Packaged(tpl)
    for logical, res in tpl.get("Resources", {}).items():
        props = res.setdefault("Properties", {})
        kind = res.get("Type")
        if kind == "AWS::Serverless::Function":
            code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
            if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
                handler = props.get("Handler", globals_fn.get("Handler"))
                runtime = props.get("Runtime", globals_fn.get("Runtime", "python3.11"))
                out.functions[logical] = FunctionCode(logical, (root / code_uri).resolve(), handler, runtime)
                props["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/code/{logical}.zip"
        elif kind == "AWS::Serverless::LayerVersion":
            content = props.get("ContentUri")
            if isinstance(content, str) and not content.startswith("s3://"):
                out.layers[logical] = (root / content).resolve()
                props["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/layers/{logical}.zip"
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            uri = props["DefinitionUri"]
            if not uri.startswith("s3://"):
                # uploaded as `sam package` does: substitutions are textual (a placeholder may stand
                # unquoted for a number), so the file is not parsed here
                key = f"statemachines/{logical}/{Path(uri).name}"
                out.artifacts[key] = (root / uri).read_bytes()
                props["DefinitionUri"] = f"s3://{ARTIFACT_BUCKET}/{key}"
    return out


class _AnyManagedPolicy(dict[str, str]):
    """samtranslator asks for managed policy ARNs by name; AWS-managed ones follow one pattern."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __getitem__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return _AnyManagedPolicy()


def cache_dir() -> Path:
    base = os.environ.get("OFFLINE_RUNTIME_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "offline-runtime"


def translate(
    packaged: dict[str, Any], parameters: dict[str, str], region: str, use_cache: bool = True
) -> dict[str, Any]:
    """The SAM transform (aws-sam-translator), cached by content."""
    if packaged.get("Transform") is None:
        return copy.deepcopy(packaged)  # plain CloudFormation already
    import samtranslator

    key_source = json.dumps(
        {"template": packaged, "parameters": parameters, "region": region, "sam": samtranslator.__version__},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key_source.encode()).hexdigest()[:32]
    cached = cache_dir() / f"sam-{digest}.json"
    if use_cache and cached.exists():
        try:
            return json.loads(cached.read_text())  # type: ignore[no-any-return]
        except ValueError:
            pass  # a torn write: translate again
    from samtranslator.translator.transform import transform

    translated: dict[str, Any] = transform(
        copy.deepcopy(packaged),
        {**parameters, "AWS::Region": region, "AWS::AccountId": ACCOUNT_ID},
        _PolicyLoader(),
    )
    if use_cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(translated))
            tmp.replace(cached)
        except OSError:
            pass  # a read-only home: no cache, same result
    return translated
