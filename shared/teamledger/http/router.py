"""The routing and typed validation of one route function: the little of a web framework a
Lambda behind API Gateway needs, and no more, because a cold start pays for every module a
function imports (Powertools' event handler brings every resolver it has, asyncio included).

A route is a function whose parameters say where each value comes from (teamledger.http.params:
`Annotated[int, Query(ge=1)]`; a pydantic model is the body; a name in the path is a path
parameter) and whose return annotation is the answer's model. Its validators are built on its
first request, only for the models this route uses: from the schemas `make build` compiled
(teamledger.http.compiled, pydantic-core only), or, without them, by pydantic from the
annotations; both validate alike. Failures are the answers
FastAPI, and so LiteLLM, give: 422 with `detail: [{loc, msg, type}]`, `loc` starting with
"query", "path" or "body". tests/support/openapi.py describes the same routes through
Powertools' OpenAPI generator, from the same signatures.
"""

import inspect
import json
import re
import types
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import parse_qs, unquote

from teamledger.http.params import Body, Param, Path, Query

Event = dict[str, Any]  # API Gateway's payload v2 event
JSON = "application/json"
# Powertools' path parameter: the characters API Gateway passes in a path segment.
_PATH_PARAMETER = re.compile(r"<(\w+)>")
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"


BodyT = TypeVar("BodyT")


class Response(Generic[BodyT]):
    """An answer a route builds itself instead of returning its model: a `str` body is sent as
    it is, anything else as JSON. `Response[str]`: the body's type, for the API's description."""

    def __init__(self, status_code: int, body: BodyT | None = None, content_type: str = JSON,
                 headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


class RequestValidationError(Exception):
    """The request does not fit the route's parameters: pydantic's errors, `loc` prefixed."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return self._errors


class RouteNotFound(Exception):
    """No route of this function matches the request's method and path."""


def _missing(loc: tuple[str | int, ...]) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


def _is_model(annotation: Any) -> bool:
    """A pydantic model, or a union with one (`Model | None`): a body, not a query value."""
    from pydantic import BaseModel

    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_model(arg) for arg in get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


class _Field:
    """One parameter of a route: where it comes from, its default, its validator (pydantic's
    TypeAdapter, or its compiled schema's: teamledger.http.compiled)."""

    def __init__(self, name: str, source: str, required: bool, default: Any,
                 adapter: Any) -> None:
        self.name = name
        self.source = source
        self.required = required
        self.default = default
        self.adapter = adapter

    @classmethod
    def declared(cls, name: str, annotation: Any, default: Any, path_names: set[str]) -> "_Field":
        """The parameter as its annotation declares it, validated by pydantic."""
        from pydantic import Field, TypeAdapter

        marker: Param | None = None
        if get_origin(annotation) is Annotated:
            base, *metadata = get_args(annotation)
            marker = next((m for m in metadata if isinstance(m, Param)), None)
            kept = [m for m in metadata if not isinstance(m, Param)]
            annotation = Annotated[(base, *kept)] if kept else base
        if marker is not None:
            source = marker.source
        elif name in path_names:
            source = Path.source
        else:
            source = Body.source if _is_model(annotation) else Query.source
        required = default is inspect.Parameter.empty
        constraints = marker.constraints if marker else {}
        return cls(name, source, required, None if required else default,
                   TypeAdapter(Annotated[annotation, Field(**constraints)]))

    def validate(self, value: Any, loc: tuple[str | int, ...], errors: list[dict[str, Any]]) -> Any:
        from pydantic_core import ValidationError

        try:
            return self.adapter.validate_python(value, from_attributes=True)
        except ValidationError as error:
            # No `url` (never rendered): pydantic-core would import pydantic for its version.
            errors.extend({**e, "loc": loc + tuple(e["loc"])}
                          for e in error.errors(include_url=False))
            return None


class Route:
    def __init__(self, method: str, rule: str, function: Callable[..., Any]) -> None:
        self.method = method
        self.rule = rule
        self.function = function
        self.pattern = re.compile(
            "^" + _PATH_PARAMETER.sub(lambda m: f"(?P<{m[1]}>{_SEGMENT})", rule) + "$")
        self._fields: list[_Field] | None = None
        self._answer: Any = None  # the return annotation's validator (None: a Response)

    def prepare(self) -> None:
        """Build the validators now rather than on the first request."""
        self._bind()

    def _bind(self) -> list[_Field]:
        """The parameters' validators, built on the route's first request: compiled ones in a
        built layer (no pydantic), else pydantic's from the function's annotations."""
        if self._fields is None:
            from teamledger.http import compiled

            if compiled.active():
                built = compiled.route(self.function)
                fields = [_Field(name, source, required, default, compiled.Adapter(schema))
                          for name, source, required, default, schema in built["fields"]]
                answer = built["answer"]
                self._answer = None if answer is None else compiled.Adapter(answer)
            else:
                fields = self.bind_declared()
                self._answer = self.declared_answer()
            self._fields = fields
        return self._fields

    def bind_declared(self) -> list[_Field]:
        """The parameters as the function's annotations declare them, with pydantic."""
        hints = get_type_hints(self.function, include_extras=True)
        path_names = set(_PATH_PARAMETER.findall(self.rule))
        fields = [_Field.declared(name, hints.get(name, Any), parameter.default, path_names)
                  for name, parameter in inspect.signature(self.function).parameters.items()]
        if sum(field.source == Body.source for field in fields) > 1:
            raise TypeError(f"{self.rule}: a route takes one body")
        return fields

    def declared_answer(self) -> Any:
        """The return annotation's TypeAdapter (None: the route answers a Response, and
        needs no pydantic)."""
        answer = get_type_hints(self.function, include_extras=True).get("return")
        if answer is None or answer is Response or get_origin(answer) is Response:
            return None
        from pydantic import TypeAdapter

        return TypeAdapter(answer)

    def arguments(self, event: Event, path: dict[str, str], body: Any) -> dict[str, Any]:
        """The function's arguments from the request, or RequestValidationError."""
        query = event.get("queryStringParameters") or {}
        repeated = {name for name, values in
                    parse_qs(event.get("rawQueryString") or "", keep_blank_values=True).items()
                    if len(values) > 1}
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for field in self._bind():
            loc: tuple[str, ...]
            if field.source == Body.source:
                value, loc = body, ("body",)
            elif field.source == Path.source:
                value, loc = path.get(field.name), ("path", field.name)
            else:
                value, loc = query.get(field.name), ("query", field.name)
                if value is not None and field.name in repeated:
                    value = value.split(",")  # `?a=1&a=2`: API Gateway joins them; not a scalar
            if value is None:
                if field.required:
                    errors.append(_missing(loc))
                else:
                    values[field.name] = field.default
                continue
            values[field.name] = field.validate(value, loc, errors)
        if errors:
            raise RequestValidationError(errors)
        return values

    def answer(self, result: Any) -> Response[Any]:
        """The function's result as an answer: its return annotation validates and dumps it
        (by alias, as JSON)."""
        if isinstance(result, Response):
            return result
        if self._answer is None:
            return Response(200, result)
        from pydantic_core import ValidationError

        try:
            value = self._answer.validate_python(result, from_attributes=True)
        except ValidationError as error:  # the route broke its own contract: a 500
            raise TypeError(f"{self.rule} answered outside its model: {error}") from error
        return Response(200, self._answer.dump_python(value, mode="json", by_alias=True))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def render(response: Response[Any]) -> dict[str, Any]:
    """API Gateway's payload v2 answer."""
    body = response.body
    if not isinstance(body, str):
        body = json.dumps(body, separators=(",", ":"), default=_json_default)
    return {"statusCode": response.status_code, "body": body, "isBase64Encoded": False,
            "headers": {"Content-Type": response.content_type, **response.headers},
            "cookies": []}


class Router:
    """The routes of one function, matched on method and path (the stage's prefix removed)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, rule: str, method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.routes.append(Route(method, rule, function))
            return function
        return register

    def get(self, rule: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(rule, "GET")

    def post(self, rule: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(rule, "POST")

    def patch(self, rule: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(rule, "PATCH")

    def delete(self, rule: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(rule, "DELETE")

    def match(self, event: Event) -> tuple[Route, dict[str, str]]:
        context = event.get("requestContext") or {}
        method = str((context.get("http") or {}).get("method", "")).upper()
        path = str(event.get("rawPath") or "/")
        stage = context.get("stage") or "$default"
        if stage != "$default":
            path = path[len(f"/{stage}"):]
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                # Percent-decoded, as API Gateway's `pathParameters` are: a team `a b` is the
                # id `a b`, not `a%20b`.
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        raise RouteNotFound(f"{method} {path}")

    def dispatch(self, event: Event) -> Response[Any]:
        """The matched route's answer; RouteNotFound and RequestValidationError propagate, as
        does whatever the route raises."""
        route, path = self.match(event)
        body = event.get("body")
        parsed = json.loads(body) if body else None
        return route.answer(route.function(**route.arguments(event, path, parsed)))
