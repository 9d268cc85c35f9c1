"""deploy/Dockerfile and .dockerignore, checked without a Docker engine (none runs in CI).

What a build would do is checked by reading the Dockerfile as BuildKit does (instructions,
continuation lines, stages): multi-stage, the dependency layer built from the dependency list
alone and installed before the bot's own code, a non-root numeric user, a health check on
/livez, and a build context (after .dockerignore) that holds what the Dockerfile copies and no
secrets, tests or simulators. That the lock itself matches pyproject.toml: tests/test_lock.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field

import pytest
from deploykit import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> tuple[list[tuple[str, str]], list[Stage]]:
    """(instructions before the first FROM, stages): each instruction as (KEYWORD, arguments)."""
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # comments inside a continued instruction are dropped
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, "the Dockerfile ends inside a continued line"
    preamble: list[tuple[str, str]] = []
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, flags=re.I)
            assert m, args
            stages.append(Stage(name=(m.group(2) or str(len(stages))).lower(), base=m.group(1)))
        elif stages:
            stages[-1].instructions.append((keyword, args))
        else:
            preamble.append((keyword, args))
    return preamble, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[list[tuple[str, str]], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def test_the_build_is_multi_stage_and_the_runtime_stage_is_last(dockerfile: tuple[list, list[Stage]]) -> None:
    _, stages = dockerfile
    names = [s.name for s in stages]
    assert names == ["deps", "build", "runtime"], names
    assert all(s.base == "${PYTHON_IMAGE}" for s in stages), "one base image for every stage"
    assert any(kw == "ARG" and args.startswith("PYTHON_IMAGE=python:3.11") for kw, args in dockerfile[0])


def test_dependencies_are_built_from_the_dependency_list_alone(dockerfile: tuple[list, list[Stage]]) -> None:
    stages = {s.name: s for s in dockerfile[1]}
    # deps: only the hashed lock reaches the stage that builds the dependency wheels, so a change
    # to the bot's code (or to pyproject's tool settings) leaves that layer cached.
    deps = stages["deps"]
    assert deps.of("COPY") == ["requirements.lock /src/requirements.lock"]
    assert any("pip wheel --require-hashes" in r and "-r /src/requirements.lock" in r for r in deps.of("RUN"))
    # build: the bot's own wheel, without its dependencies.
    build = stages["build"]
    assert {c.split()[0] for c in build.of("COPY")} == {"pyproject.toml", "bot", "handlers"}
    assert any("pip wheel --no-deps" in r for r in build.of("RUN"))


def test_the_runtime_installs_dependencies_before_the_bot_and_checks_them(dockerfile: tuple[list, list[Stage]]) -> None:
    runtime = {s.name: s for s in dockerfile[1]}["runtime"]
    runs = runtime.of("RUN")
    deps = next(i for i, r in enumerate(runs) if "from=deps" in r)
    bot = next(i for i, r in enumerate(runs) if "from=build" in r)
    assert deps < bot, "the dependency layer comes first, so it is reused when only the code changes"
    assert "--no-index" in runs[deps] and "--no-deps" in runs[bot] and "pip check" in runs[bot]
    assert not runtime.of("COPY"), "the runtime copies nothing from the context: wheels only"


def test_the_image_runs_as_a_numeric_non_root_user_with_a_liveness_check(
        dockerfile: tuple[list, list[Stage]]) -> None:
    runtime = {s.name: s for s in dockerfile[1]}["runtime"]
    (user,) = runtime.of("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or int(gid) != 0), "Kubernetes' runAsNonRoot needs a number"
    (health,) = runtime.of("HEALTHCHECK")
    options, _, cmd = health.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(cmd)
    assert argv[:2] == ["python", "-c"] and "/livez" in argv[2] and "BOT_HEALTH_PORT" in argv[2]
    compile(argv[2], "<HEALTHCHECK>", "exec")
    assert json.loads(runtime.of("CMD")[0]) == ["seedance-bot", "serve"]
    assert runtime.of("STOPSIGNAL") == ["SIGTERM"]


# --- the build context --------------------------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per line of .dockerignore, as Docker matches them (Go filepath.Match + **)."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pat = line[1:] if negated else line
        pat = pat.strip("/")
        rx = ""
        i = 0
        while i < len(pat):
            if pat.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif pat.startswith("**", i):
                rx += ".*"
                i += 2
            elif pat[i] == "*":
                rx += "[^/]*"
                i += 1
            elif pat[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(pat[i])
                i += 1
        patterns.append((negated, re.compile(rx + "$")))
    return patterns


def in_context(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether `path` (relative, /-separated) is sent to the builder: the last matching pattern wins,
    and a pattern that matches a parent directory matches everything in it."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, rx in patterns:
        if any(rx.match(c) for c in candidates):
            excluded = not negated
    return not excluded


@pytest.fixture(scope="module")
def context_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    patterns = dockerignore_patterns()
    return [f for f in out if (ROOT / f).exists() and in_context(f, patterns)]


def test_the_context_holds_what_the_dockerfile_copies(dockerfile: tuple[list, list[Stage]],
                                                       context_files: list[str]) -> None:
    sources = []
    for stage in dockerfile[1]:
        for args in stage.of("COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if any(w.startswith("--from=") for w in args.split()):
                continue
            sources += words[:-1]
    assert sources, "the Dockerfile copies from the context"
    for src in sources:
        assert any(f == src or f.startswith(src.rstrip("/") + "/") for f in context_files), \
            f"COPY {src}: not in the build context (.dockerignore excludes it, or it does not exist)"
    assert "bot/web/gunicorn_conf.py" in context_files, "the gunicorn settings ship in the package"


def test_the_context_leaves_out_secrets_tests_simulators_and_deploy(context_files: list[str]) -> None:
    patterns = dockerignore_patterns()
    for path in [".env", ".env.production", "tests/conftest.py", "sim/ark.py", "bench/README.md",
                 "docs/architecture.md", "deploy/Dockerfile", "deploy/k8s/base/web.yaml", ".git/HEAD",
                 ".venv/bin/python", "data/redis/appendonly.aof", "bot/__pycache__/x.pyc", "CHANGELOG.md"]:
        assert not in_context(path, patterns), path
    assert not [f for f in context_files if f.startswith(("tests/", "sim/", "deploy/", "bench/", "docs/"))]
    assert "README.md" in context_files and "pyproject.toml" in context_files
