"""A small CloudFormation: creates a (translated) template's resources through moto's service APIs.

moto's own CloudFormation skips many types a SAM app uses (subscriptions, Glue, Athena, event
invoke configs, schedules, alarms), ignores properties it does not know (bucket lifecycle and
notifications, DefinitionSubstitutions), creates state machines in a non-executing backend and
imports every moto service on first use. This engine does what CloudFormation does instead:

- validates parameters (AllowedValues, AllowedPattern, Min/MaxValue, Min/MaxLength) and fills
  defaults; evaluates Conditions; resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select,
  Fn::Split, Fn::If, Fn::FindInMap, Fn::GetAZs, Fn::Base64, Fn::ToJsonString and the pseudo
  parameters (AWS::NoValue removes a property);
- orders resources by their references and DependsOn, and creates each through the provider of
  its type (``offline_runtime.emulator.resources``, one module per service, calling moto through
  boto3 so moto validates requests as AWS would);
- names physical resources as CloudFormation does (``<stack>-<LogicalId>-<random>``, lowercase for
  buckets, within each service's length limit), deterministically per stack and logical id;
- a type with no provider is not emulated: it is reported (``Stack.unsupported``) and resolves to
  a placeholder id, and the stack still deploys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}]+)\}")


class StackError(Exception):
    """The template cannot be deployed; the message names the resource and the property."""


@dataclass
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None = None
    depends_on: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    physical_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "PENDING"  # CREATE_COMPLETE | SKIPPED (condition false) | NOT_EMULATED
    resolved: dict[str, Any] = field(default_factory=dict)  # properties as created


@dataclass
class Created:
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


class Provider:
    """Creates one resource type through moto's APIs."""

    type: str = ""

    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        raise NotImplementedError


PROVIDERS: dict[str, Provider] = {}


def provider(type_name: str) -> Callable[[type[Provider]], type[Provider]]:
    def register(cls: type[Provider]) -> type[Provider]:
        instance = cls()
        instance.type = type_name
        PROVIDERS[type_name] = instance
        return cls

    return register


def physical_name(
    stack_name: str, logical_id: str, max_len: int = 64, lower: bool = False, suffix: str = ""
) -> str:
    """``<stack>-<LogicalId>-<13 random>`` as CloudFormation makes them, deterministic here."""
    digest = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest()
    alphabet = string.ascii_uppercase + string.digits
    rnd = "".join(alphabet[b % len(alphabet)] for b in digest[:13])
    budget = max_len - len(rnd) - 1 - len(suffix)
    base = f"{stack_name}-{logical_id}"
    if len(base) > budget:
        keep_stack = max(1, budget // 2)
        base = f"{stack_name[:keep_stack]}-{logical_id[: max(1, budget - keep_stack - 1)]}"
    name = f"{base[:budget]}-{rnd}{suffix}"
    return name.lower() if lower else name


class Stack:
    """A deployed stack: its parameters, conditions, resources and outputs."""

    def __init__(
        self,
        name: str,
        template: dict[str, Any],
        parameters: dict[str, str],
        region: str,
        account: str,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.template = template
        self.region = region
        self.account = account
        self.stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/offline"
        self.context = context or {}  # what providers need beyond moto (local code, the runtime)
        self.parameters = self._parameters(template.get("Parameters", {}), parameters)
        self.mappings: dict[str, Any] = template.get("Mappings", {})
        self.conditions: dict[str, bool] = {}
        self.resources: dict[str, Resource] = {}
        self.outputs: dict[str, Any] = {}
        self.unsupported: dict[str, str] = {}  # logical id -> type
        for logical, raw in template.get("Resources", {}).items():
            depends = raw.get("DependsOn", [])
            self.resources[logical] = Resource(
                logical,
                raw["Type"],
                raw.get("Properties", {}) or {},
                raw.get("Condition"),
                [depends] if isinstance(depends, str) else list(depends),
                raw.get("Metadata", {}) or {},
            )

    # -- parameters and conditions ---------------------------------------------------------------
    @staticmethod
    def _parameters(declared: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
        unknown = set(given) - set(declared)
        if unknown:
            raise StackError(f"parameters not in the template: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in given:
                value: Any = str(given[name])
            elif "Default" in spec:
                value = spec["Default"]
                value = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            else:
                raise StackError(f"parameter {name} has no value and no Default")
            _check_parameter(name, spec, value)
            kind = str(spec.get("Type", "String"))
            values[name] = (
                value.split(",") if kind.startswith("List<") or kind == "CommaDelimitedList" else value
            )
        return values

    def evaluate_conditions(self) -> None:
        raw = self.template.get("Conditions", {})
        pending = dict(raw)

        def evaluate(name: str, trail: tuple[str, ...] = ()) -> bool:
            if name in self.conditions:
                return self.conditions[name]
            if name in trail:
                raise StackError(f"condition {name} refers to itself")
            if name not in pending:
                raise StackError(f"unknown condition {name}")
            result = bool(self._condition(pending[name], lambda n: evaluate(n, (*trail, name))))
            self.conditions[name] = result
            return result

        for name in raw:
            evaluate(name)

    def _condition(self, expr: Any, lookup: Callable[[str], bool]) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            fn, arg = next(iter(expr.items()))
            if fn == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return bool(_scalar(a) == _scalar(b))
            if fn == "Fn::Not":
                return not self._condition(arg[0], lookup)
            if fn == "Fn::And":
                return all(self._condition(x, lookup) for x in arg)
            if fn == "Fn::Or":
                return any(self._condition(x, lookup) for x in arg)
            if fn == "Condition":
                return lookup(arg)
        raise StackError(f"unsupported condition expression {expr!r}")

    def condition(self, name: str | None) -> bool:
        return True if name is None else self.conditions.get(name, False)

    # -- intrinsic functions ------------------------------------------------------------------
    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise KeyError(name)
        return values[name]

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name.startswith("AWS::"):
            return self.pseudo(name)
        res = self.resources.get(name)
        if res is None:
            raise StackError(f"Ref to {name}: no such parameter or resource")
        if res.physical_id is None:
            raise StackError(f"Ref to {name} before it exists (status {res.status})")
        return res.physical_id

    def get_att(self, logical: str, attribute: str) -> Any:
        res = self.resources.get(logical)
        if res is None:
            raise StackError(f"Fn::GetAtt {logical}.{attribute}: no such resource")
        if res.status == "NOT_EMULATED":
            raise StackError(f"Fn::GetAtt {logical}.{attribute}: {res.type} is not emulated offline")
        if attribute not in res.attributes:
            raise StackError(
                f"Fn::GetAtt {logical}.{attribute}: {res.type} has no attribute {attribute} "
                f"(offline: {', '.join(sorted(res.attributes)) or 'none'})"
            )
        return res.attributes[attribute]

    def resolve(self, node: Any) -> Any:
        """The value CloudFormation would pass to the resource (AWS::NoValue removes keys)."""
        if isinstance(node, list):
            items = [self.resolve(v) for v in node]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            fn, arg = next(iter(node.items()))
            handler = _FUNCTIONS.get(fn)
            if handler is not None:
                return handler(self, arg)
        out = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(_scalar(variables[name]))
            if "." in name and name.split(".", 1)[0] in self.resources:
                logical, attr = name.split(".", 1)
                return str(self.get_att(logical, attr))
            return str(_scalar(self.ref(name)))

        return _SUB.sub(replace, text)

    # -- dependencies -----------------------------------------------------------------------------
    def references(self, node: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(node, list):
            for v in node:
                found |= self.references(v)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref" and isinstance(value, str) and value in self.resources:
                    found.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                    if target in self.resources:
                        found.add(target)
                elif key == "Fn::Sub":
                    text = value if isinstance(value, str) else value[0]
                    local = set(value[1]) if isinstance(value, list) and len(value) > 1 else set()
                    for name in _SUB.findall(text):
                        base = name.split(".", 1)[0]
                        if base not in local and base in self.resources:
                            found.add(base)
                    if isinstance(value, list) and len(value) > 1:
                        found |= self.references(value[1])
                else:
                    found |= self.references(value)
        return found

    def creation_order(self) -> list[str]:
        deps = {
            logical: (self.references(res.properties) | set(res.depends_on)) & set(self.resources)
            for logical, res in self.resources.items()
        }
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(node: str, trail: tuple[str, ...]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                raise StackError(f"circular dependency: {' -> '.join((*trail, node))}")
            state[node] = 1
            for dep in sorted(deps[node]):
                visit(dep, (*trail, node))
            state[node] = 2
            order.append(node)

        for logical in self.resources:
            visit(logical, ())
        return order

    # -- deployment -----------------------------------------------------------------------------
    def closure(self, roots: list[str]) -> set[str]:
        """The resources ``roots`` need: themselves and everything they reference, transitively."""
        missing = [r for r in roots if r not in self.resources]
        if missing:
            raise StackError(f"no such resource(s): {', '.join(missing)}")
        needed: set[str] = set()
        todo = list(roots)
        while todo:
            logical = todo.pop()
            if logical in needed:
                continue
            needed.add(logical)
            res = self.resources[logical]
            todo.extend((self.references(res.properties) | set(res.depends_on)) & set(self.resources))
        return needed

    def deploy(self, only: list[str] | None = None) -> Stack:
        """Create every resource (or only what ``only`` needs: `make invoke` runs one function)."""
        self.evaluate_conditions()
        wanted = self.closure(only) if only else None
        for logical in self.creation_order():
            res = self.resources[logical]
            if wanted is not None and logical not in wanted:
                res.status = "NOT_DEPLOYED"
                continue
            if not self.condition(res.condition):
                res.status = "SKIPPED"
                continue
            impl = PROVIDERS.get(res.type)
            if impl is None:
                res.status = "NOT_EMULATED"
                res.physical_id = f"{logical}-not-emulated-offline"
                self.unsupported[logical] = res.type
                continue
            try:
                props = self.resolve(res.properties)
                created = impl.create(self, res, props)
            except StackError:
                raise
            except Exception as exc:
                raise StackError(f"{logical} ({res.type}): {type(exc).__name__}: {exc}") from exc
            res.resolved = props
            res.physical_id = created.physical_id
            res.attributes = created.attributes
            res.status = "CREATE_COMPLETE"
        for name, output in self.template.get("Outputs", {}).items():
            if self.condition(output.get("Condition")) and (
                wanted is None or self.references(output) <= wanted
            ):
                self.outputs[name] = _scalar(self.resolve(output["Value"]))
        return self

    @property
    def physical(self) -> dict[str, str]:
        return {
            k: r.physical_id
            for k, r in self.resources.items()
            if r.physical_id is not None and r.status == "CREATE_COMPLETE"
        }

    def of_type(self, type_name: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == type_name and r.status == "CREATE_COMPLETE"]


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))
    return value


def _check_parameter(name: str, spec: dict[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        raise StackError(f"parameter {name}: {value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise StackError(f"parameter {name}: {value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise StackError(f"parameter {name}: {value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise StackError(f"parameter {name}: {value} is below MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise StackError(f"parameter {name}: {value} is above MaxValue {spec['MaxValue']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise StackError(f"parameter {name}: shorter than MinLength {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise StackError(f"parameter {name}: longer than MaxLength {spec['MaxLength']}")


def _fn_ref(stack: Stack, arg: Any) -> Any:
    return stack.ref(arg)


def _fn_get_att(stack: Stack, arg: Any) -> Any:
    logical, attr = (arg if isinstance(arg, list) else str(arg).split(".", 1))[:2]
    return stack.get_att(logical, stack.resolve(attr))


def _fn_sub(stack: Stack, arg: Any) -> Any:
    if isinstance(arg, str):
        return stack.sub(arg, {})
    text, variables = arg[0], stack.resolve(arg[1] if len(arg) > 1 else {})
    return stack.sub(text, variables)


def _fn_join(stack: Stack, arg: Any) -> Any:
    delimiter, items = arg
    return str(delimiter).join(str(_scalar(v)) for v in stack.resolve(items))


def _fn_select(stack: Stack, arg: Any) -> Any:
    index, items = stack.resolve(arg[0]), stack.resolve(arg[1])
    return items[int(index)]


def _fn_split(stack: Stack, arg: Any) -> Any:
    delimiter, text = arg
    return str(stack.resolve(text)).split(delimiter)


def _fn_if(stack: Stack, arg: Any) -> Any:
    name, when_true, when_false = arg
    return stack.resolve(when_true if stack.condition(name) else when_false)


def _fn_find_in_map(stack: Stack, arg: Any) -> Any:
    name, top, second = (stack.resolve(a) for a in arg[:3])
    try:
        return stack.mappings[name][top][second]
    except KeyError:
        if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
            return stack.resolve(arg[3]["DefaultValue"])
        raise StackError(f"Fn::FindInMap: {name}/{top}/{second} is not in the Mappings") from None


def _fn_get_azs(stack: Stack, arg: Any) -> Any:
    region = stack.resolve(arg) or stack.region
    return [f"{region}{z}" for z in "abc"]


def _fn_base64(stack: Stack, arg: Any) -> Any:
    return base64.b64encode(str(stack.resolve(arg)).encode()).decode()


def _fn_to_json(stack: Stack, arg: Any) -> Any:
    return json.dumps(stack.resolve(arg), separators=(",", ":"))


def _fn_import(stack: Stack, arg: Any) -> Any:
    raise StackError(f"Fn::ImportValue {arg!r}: cross-stack exports are not emulated offline")


_FUNCTIONS: dict[str, Callable[[Stack, Any], Any]] = {
    "Ref": _fn_ref,
    "Fn::GetAtt": _fn_get_att,
    "Fn::Sub": _fn_sub,
    "Fn::Join": _fn_join,
    "Fn::Select": _fn_select,
    "Fn::Split": _fn_split,
    "Fn::If": _fn_if,
    "Fn::FindInMap": _fn_find_in_map,
    "Fn::GetAZs": _fn_get_azs,
    "Fn::Base64": _fn_base64,
    "Fn::ToJsonString": _fn_to_json,
    "Fn::ImportValue": _fn_import,
}
