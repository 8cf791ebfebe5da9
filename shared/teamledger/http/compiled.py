"""The API's models compiled ahead: pydantic-core's validators and serializers of the schemas
pydantic makes of the declared models (teamledger.http.declared), so that a function validates
exactly as pydantic would without importing pydantic at all.

Why: importing pydantic and declaring some sixty models was about 100 ms of a route function's
cold start, over a third of a bare boto3 client's; pydantic-core, which does the validating, is
about 25 ms. pydantic is still where the models are declared, tested and described
(docs/openapi.json): `python -m teamledger.http.compiled` (run by `make build` before
`sam build`, by the tests, `make dev` and `make bench`) imports it and writes, for each model,
its core schema, and for each route of each function, its parameters' and answer's schemas, as
one pickle. A model's schema refers to the checks in teamledger.http.checks and
teamledger.domain.limits by name, and to other models by name (pickle's persistent ids), which
are this module's `Model` classes: plain classes with the few BaseModel methods the layer uses,
over the same validator and serializer.

The cache is keyed by pydantic-core's version and the text of the files the schemas come from
(declared.py, sizes.py); a route's entry by its module's text. `teamledger.http.models` gives
the compiled models when the cache is current (`TEAMLEDGER_MODELS` unset), or always
(`compiled`: an error when it is missing or stale), or pydantic's (`declared`: what the API's
description and its tests need). The cache is a build product (git-ignored), never edited.
"""

import hashlib
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
CACHE = HERE / "_compiled" / "models.pickle"
# What the models' schemas are made of: a change to either makes the cache stale.
SOURCES = (HERE / "declared.py", HERE.parent / "sizes.py")
MODE = "TEAMLEDGER_MODELS"


class StaleModels(RuntimeError):
    """The compiled models are missing or not of this code (run `make build`)."""


def key() -> str:
    import pydantic_core

    digest = hashlib.sha256(pydantic_core.__version__.encode())
    for source in SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _file_key(path: str | None) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""


def route_key(function: Callable[..., Any]) -> str:
    """A route function's entry: its module's text and its name."""
    module = sys.modules.get(function.__module__)
    return f"{_file_key(getattr(module, '__file__', None))}:{function.__qualname__}"


# --- at run time -------------------------------------------------------------------------

class Model:
    """A compiled model: pydantic-core validates into it and serializes from it as it does a
    BaseModel (the same slots), and it answers the BaseModel methods the layer calls."""

    __slots__ = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                 "__pydantic_private__")
    model_fields: ClassVar[dict[str, None]] = {}
    _schema: ClassVar[bytes] = b""
    _namespace: ClassVar[dict[str, type["Model"]]] = {}  # the models of its load, by name

    def __init__(self, **data: Any) -> None:
        type(self).validator().validate_python(data, self_instance=self)

    @classmethod
    def validator(cls) -> Any:
        if "_validator" not in cls.__dict__:
            cls._build()
        return cls.__dict__["_validator"]

    @classmethod
    def serializer(cls) -> Any:
        if "_serializer" not in cls.__dict__:
            cls._build()
        return cls.__dict__["_serializer"]

    @classmethod
    def _build(cls) -> None:
        from pydantic_core import SchemaSerializer, SchemaValidator

        schema = _loads(cls._schema, cls._namespace)
        setattr(cls, "_validator", SchemaValidator(schema))  # noqa: B010  (per class, not Model)
        setattr(cls, "_serializer", SchemaSerializer(schema))  # noqa: B010

    @classmethod
    def model_validate(cls, value: Any) -> Any:
        return cls.validator().validate_python(value)

    @property
    def model_fields_set(self) -> set[str]:
        fields: set[str] = getattr(self, "__pydantic_fields_set__")  # noqa: B009  (a slot)
        return fields

    def model_dump(self, *, mode: str = "python", include: Any = None, exclude: Any = None,
                   by_alias: bool = False, exclude_unset: bool = False,
                   exclude_none: bool = False) -> dict[str, Any]:
        dumped: dict[str, Any] = self.serializer().to_python(
            self, mode=mode, include=include, exclude=exclude, by_alias=by_alias,
            exclude_unset=exclude_unset, exclude_none=exclude_none)
        return dumped

    def model_dump_json(self) -> str:
        return str(self.serializer().to_json(self).decode())

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    __hash__ = None  # type: ignore[assignment]  # as BaseModel's: mutable, unhashable

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


class Adapter:
    """A route parameter's or answer's validator and serializer (TypeAdapter's two methods)."""

    def __init__(self, schema: Any) -> None:
        from pydantic_core import SchemaSerializer, SchemaValidator

        self._validator = SchemaValidator(schema)
        self._serializer = SchemaSerializer(schema)

    def validate_python(self, value: Any, **options: Any) -> Any:
        return self._validator.validate_python(value, **options)

    def dump_python(self, value: Any, **options: Any) -> Any:
        return self._serializer.to_python(value, **options)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, namespace: dict[str, type[Model]]) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.namespace = namespace

    def persistent_load(self, pid: Any) -> Any:
        return self.namespace[pid]


def _loads(data: bytes, namespace: dict[str, type[Model]]) -> Any:
    return _Unpickler(data, namespace).load()


class Loaded:
    """One load of the cache: its model classes, the declared module's other names (its type
    aliases as Any, its constants), and its routes' entries."""

    def __init__(self, cache: dict[str, Any]) -> None:
        self.models: dict[str, type[Model]] = {}
        for name, bases, fields, schema in cache["models"]:
            parents = tuple(self.models[base] for base in bases) or (Model,)
            self.models[name] = type(name, parents, {
                "__slots__": (), "__module__": __name__, "__qualname__": name,
                "_schema": schema, "_namespace": self.models,
                "model_fields": dict.fromkeys(fields)})
        self.names: dict[str, Any] = {**self.models, **dict.fromkeys(cache["aliases"], Any),
                                      **cache["constants"]}
        self.routes: dict[str, bytes] = cache["routes"]

    def route(self, function: Callable[..., Any]) -> dict[str, Any] | None:
        """A route function's parameters and answer: {"fields": [(name, source, required,
        default, schema)], "answer": schema or None}; None when it is not in the cache."""
        return self.entry(route_key(function))

    def entry(self, key: str) -> dict[str, Any] | None:
        """The route entry under `key` (route_key's), unpickled; None when there is none."""
        data = self.routes.get(key)
        return None if data is None else dict(_loads(data, self.models))


def load(path: Path | None = None) -> Loaded | None:
    """The cache at `path` (CACHE), or None when it is missing or stale."""
    try:
        cache = pickle.loads((path or CACHE).read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, ValueError):
        return None
    if not isinstance(cache, dict) or cache.get("key") != key():
        return None
    return Loaded(cache)


_installed: Loaded | None = None


def models() -> dict[str, Any] | None:
    """For teamledger.http.models: the compiled models (and the router uses their routes), or
    None for pydantic's."""
    global _installed
    mode = os.environ.get(MODE, "")
    if mode == "declared":
        return None
    loaded = load()
    if loaded is None:
        if mode == "compiled":
            raise StaleModels(f"{CACHE} is missing or stale: run `python -m "
                              "teamledger.http.compiled` (make build does)")
        return None
    _installed = loaded
    return loaded.names


def active() -> bool:
    """Whether teamledger.http.models are the compiled ones."""
    return _installed is not None


def prepare() -> None:
    """Build every compiled model's validator and serializer now (before a SnapStart
    snapshot) rather than on its first use."""
    for model in (_installed.models.values() if _installed else ()):
        model.validator()
        model.serializer()


def route(function: Callable[..., Any]) -> dict[str, Any]:
    """A route function's compiled parameters and answer (see Loaded.route)."""
    found = None if _installed is None else _installed.route(function)
    if found is None:
        raise StaleModels(f"{function.__module__}.{function.__qualname__} is not in {CACHE}, "
                          "or has changed since: run `python -m teamledger.http.compiled`")
    return found


# --- at build time -----------------------------------------------------------------------

def _plain(schema: Any) -> Any:
    """The schema without its schemas' `metadata` (pydantic's JSON Schema hooks, closures that
    pickle cannot name and pydantic-core never reads); a field named `metadata` stays."""
    if isinstance(schema, dict):
        is_schema = isinstance(schema.get("type"), str)
        return {name: _plain(value) for name, value in schema.items()
                if not (is_schema and name == "metadata")}
    if isinstance(schema, list):
        return [_plain(value) for value in schema]
    if isinstance(schema, tuple):
        return tuple(_plain(value) for value in schema)
    return schema


def _dumps(value: Any) -> bytes:
    import io

    from pydantic import BaseModel

    from teamledger.http import declared

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> str | None:
            if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
                return None
            name = str(obj.__name__)
            if getattr(declared, name, None) is not obj:
                raise TypeError(f"{obj!r} is not a model of teamledger.http.declared")
            return name

    buffer = io.BytesIO()
    Pickler(buffer, protocol=5).dump(_plain(value))
    return buffer.getvalue()


def _core_schema(adapter: Any) -> Any:
    """A TypeAdapter's core schema (one of a deferred model is built first)."""
    adapter.rebuild()
    return adapter.core_schema


def _function_modules(root: Path) -> list[Any]:
    import importlib

    return [importlib.import_module(f"functions.{app.parent.name}.app")
            for app in sorted((root / "functions").glob("*/app.py"))]


def build(root: Path) -> dict[str, Any]:
    """The cache's content, from pydantic (the declared models) and the route functions of
    the repository at `root`."""
    from typing import get_origin

    from pydantic import BaseModel

    from teamledger.http import declared
    from teamledger.http.router import Router

    models, aliases, constants = [], [], {}
    for name, value in vars(declared).items():
        if name.startswith("_"):
            continue
        if isinstance(value, type) and issubclass(value, BaseModel) \
                and value.__module__ == declared.__name__:
            value.model_rebuild()
            bases = [base.__name__ for base in value.__bases__ if base is not BaseModel]
            models.append((name, bases, list(value.model_fields),
                           _dumps(value.__pydantic_core_schema__)))
        elif get_origin(value) is not None:  # Annotated[...], Literal[...], unions
            aliases.append(name)
        elif type(value) in (int, float, str):
            constants[name] = value
    routes = {}
    for module in _function_modules(root):
        router = getattr(module, "app", None)
        if not isinstance(router, Router):
            continue
        for found in router.routes:
            fields = [(field.name, field.source, field.required, field.default,
                       _core_schema(field.adapter)) for field in found.bind_declared()]
            answer = found.declared_answer()
            routes[route_key(found.function)] = _dumps(
                {"fields": fields, "answer": None if answer is None else _core_schema(answer)})
    return {"key": key(), "models": models, "aliases": aliases, "constants": constants,
            "routes": routes}


def write(root: Path | None = None, path: Path | None = None) -> Path:
    """Compile the declared models and the routes of the repository at `root` into `path`
    (in a process of its own when this one has the compiled models: the functions'
    annotations here are their stand-ins)."""
    root, path = root or Path.cwd(), path or CACHE
    if active():
        import subprocess

        subprocess.run([sys.executable, "-m", "teamledger.http.compiled", str(path)], cwd=root,
                       check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, MODE: "declared",
                            "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), str(root)])})
        return path
    content = pickle.dumps(build(root), protocol=5)
    path.parent.mkdir(exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(content)
    partial.replace(path)
    return path


def main() -> None:
    """`python -m teamledger.http.compiled [PATH]`, from the repository's root."""
    os.environ[MODE] = "declared"
    sys.path.insert(0, str(Path.cwd()))  # the functions' package
    from teamledger.http import compiled

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    print(f"compiled models: {compiled.write(path=path)}")


if __name__ == "__main__":
    main()
