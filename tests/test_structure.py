"""The shape of the code: no import circle among the apps, every module importable on
its own, and no business rule that knows how its work is scheduled."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "merchants", "tickets", "arbitration", "audit", "integration")


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = project_modules()


def imports_of(name: str, path: Path) -> set[str]:
    """Every project module ``name`` imports, at the top or inside a function: a lazy
    import hides a circle from Python, not from the reader."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from pkg import sub`` imports the submodule when there is one.
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return result


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def test_the_graph_sees_the_modules_it_should():
    # A guard for the test itself: an empty graph would find no circle either.
    assert len(MODULES) > 50
    assert "tickets.services.lifecycle" in GRAPH["tickets.services.sweeps"]
    assert "tickets.services.sweeps" in GRAPH["tickets.tasks"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_among_the_apps():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize(
    "services", ["tickets.services", "arbitration.services", "integration.services"]
)
def test_services_never_import_tasks_views_receivers_or_admin(services):
    # A rule does not know how it is scheduled or shown: work for Celery leaves
    # through signals sent on commit (tickets/signals.py), received in tickets/receivers.py.
    forbidden = ("tasks", "views", "receivers", "admin", "api")
    offenders = {
        name: sorted(t for t in targets if t.split(".")[1:2] in ([f] for f in forbidden))
        for name, targets in GRAPH.items()
        if name.startswith(services)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_every_module_imports_on_its_own():
    """Each module is the first project module imported in a fresh process (forked
    from one that has loaded only Django and the libraries), so a circle that only
    bites in some import order shows up here."""
    script = textwrap.dedent(
        """
        import importlib, os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django, celery, ninja, openpyxl  # the libraries, loaded once
        from django.conf import settings
        settings.INSTALLED_APPS
        failed = []
        for name in sys.argv[1:]:
            pid = os.fork()
            if pid == 0:
                try:
                    # The module first, where it can be (pure modules need no app
                    # registry), then the registry, then the module again.
                    try:
                        importlib.import_module(name)
                    except django.core.exceptions.AppRegistryNotReady:
                        for loaded in [m for m in sys.modules if m.split(".")[0] in
                                       ("config", "merchants", "tickets", "arbitration")]:
                            del sys.modules[loaded]
                        django.setup()
                        importlib.import_module(name)
                except BaseException as exc:
                    print(f"{name}: {type(exc).__name__}: {exc}", flush=True)
                    os._exit(1)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            if status:
                failed.append(name)
        print("FAILED", " ".join(failed))
        sys.exit(1 if failed else 0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *sorted(MODULES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "FAILED"
