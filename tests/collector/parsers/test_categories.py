"""Tests for ``collector.parsers.categories``: a table of real agent commands, properties,
fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.parsers.categories import CATEGORIES, categorize_argv, categorize_command

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

TEST = [
    "pytest",
    "pytest -x -q",
    "cd /repo && source .venv/bin/activate && pytest -x -q 2>&1 | tail -20",
    "python -m pytest tests/test_math_utils.py -v",
    "uv run pytest -m unit -v",
    "poetry run pytest --cov=src --cov-report=term-missing",
    "npm test",
    "cd app && npm test",
    "npm run test -- --watch=false",
    'npm test -- --run src/agents/__tests__/reasoning.test.ts -t "Compaction Config"',
    "pnpm test --filter @guideai-dev/desktop -- --run",
    "cd apps/desktop && pnpm vitest run src/hooks/useBackgroundProcessing.test.ts",
    "yarn jest --coverage",
    "npx jest src/utils.test.ts",
    "npx playwright test --project=chromium",
    "cargo test 2>&1",
    "cargo test --workspace -- --nocapture",
    "cargo llvm-cov --fail-under-lines 100 2>&1",
    "go test ./... -race -count=1",
    "make test",
    "tox -e py311",
    "(cd backend; make check)",
    "bash -lc 'cd /workspace && pytest tests/unit -q'",
    "timeout 300 python -m pytest tests/ -x --tb=short 2>&1 | tail -50",
    "FOO=1 CI=true npm run test:e2e",
    "ruff check . && mypy src && pytest",
    "git stash && pytest tests/test_parser.py; git stash pop",
    "./gradlew test --tests 'com.example.*'",
    "mvn -q clean test",
    "python test_parser.py",
    "bun test",
    "deno test --allow-read",
    "dotnet test",
    "xvfb-run -a npm test",
    "coverage run -m pytest && coverage report -m",
    "hatch run test:cov",
    "rspec spec/models",
    "node --test",
    "env PYTHONPATH=src .venv/bin/pytest -q",
    'sh -c "cd /app && python -m unittest discover"',
]

BUILD = [
    "make",
    "FOO=1 sudo make",
    "make -j8 -C build",
    "npm run build",
    "npm run build 2>&1 | tail -30",
    "pnpm build",
    "yarn build:prod",
    "cargo build --release",
    "go build -o bin/server ./cmd/server",
    "tsc -p tsconfig.build.json",
    "mkdir -p build && cd build && cmake .. && make -j$(nproc)",
    "python -m build",
    "uv build",
    "./gradlew assembleDebug",
    "mvn clean install -DskipTests",
    "npx vite build",
    "gcc -O2 -o hello hello.c && ./hello",
    "rm -rf dist && npm run build",
    "cd frontend && npm ci && npm run build",
    "./build.sh",
    "swift build -c release",
    "dotnet build",
    "python setup.py sdist bdist_wheel",
    "webpack --mode production",
]

LINT = [
    "ruff check claude_code_log/renderer.py",
    "ruff format . && ruff check --fix .",
    "mypy --strict collector/",
    "npx tsc --noEmit",
    "npm run lint",
    "npm run typecheck",
    "pnpm eslint . --fix",
    "cargo clippy --all-targets -- -D warnings",
    "cargo fmt --check",
    "go vet ./...",
    "just check 2>&1",
    "pre-commit run --all-files",
    "black --check . && isort --check-only .",
    "(source .venv/bin/activate && ruff check deep_manifest/)",
    "shellcheck scripts/*.sh",
    "npx prettier --check 'src/**/*.{ts,tsx}'",
    "golangci-lint run ./...",
    "uv run mypy src",
    "tox -e lint",
]

PACKAGE = [
    "pip install -r requirements.txt",
    "pip install -e '.[dev]'",
    "python3 -m pip install --upgrade pip",
    "uv pip install -e .",
    "uv sync --all-extras",
    "uv add httpx",
    "uv tool install .",
    "poetry install --no-root",
    "npm install",
    "npm install @eslint/js @eslint/eslintrc -D",
    "npm ci",
    "pnpm add -D vitest --filter @guideai-dev/desktop",
    "yarn",
    "yarn add react-query",
    "cargo add serde --features derive",
    "cargo install cargo-llvm-cov 2>&1 | tail -20",
    "go get github.com/stretchr/testify",
    "go mod tidy",
    "go install golang.org/x/tools/gopls@latest",
    "brew install jq",
    "sudo apt-get update && sudo apt-get install -y build-essential",
    "python -m venv .venv && source .venv/bin/activate && pip install -r requirements.txt",
    "npx create-react-app my-app",
    "bundle install",
    "conda install -c conda-forge numpy",
    "cargo init --lib --name python_utils",
]

GIT = [
    "git status",
    "git add . && git commit -m x",
    "git add -A && git commit -m \"$(cat <<'EOF'\nFix tests\n\nmake test pass\nEOF\n)\"",
    "git log --oneline -10",
    "git diff HEAD~1 -- src/ | head -100",
    "git -C /repo status --short",
    'gh pr create --title "Add parser" --body "$(cat <<\'EOF\'\n## Summary\n'
    '- make test pass\n- npm install deps\nEOF\n)"',
    "gh pr view --json url",
    "git checkout -b feature/x && git push -u origin feature/x",
    "git grep -n TODO",
    "git fetch --all 2>&1 | head -5; git log --all --oneline --graph -20",
    'for d in .claude/worktrees/agent-*; do echo "=== $d ==="; git -C "$d" log -3; done',
    "cd /repo && git stash list",
    'git commit -m "Fix relative paths\n\nUse explicit ./ prefix; run npm test && make"',
    "git rebase -i HEAD~3",
    "git log -p --follow -- src/app.py | grep -n 'def main'",
    "cp a.js b.js && git add b.js",
]

CONTAINER = [
    "docker ps",
    "docker compose up -d && docker compose logs -f api",
    "docker build -t app:latest .",
    "docker-compose exec web python manage.py migrate",
    "docker run --rm -v $(pwd):/app -w /app python:3.11 pytest",
    "podman images",
    "kubectl get pods -n staging",
    "kubectl logs -f deploy/api | grep ERROR",
    "helm upgrade --install api ./chart",
    "docker ps | grep postgres",
]

RUN = [
    "python script.py",
    'python3 -c "import sys; print(sys.version)"',
    "node x.js",
    "./run.sh",
    "bash scripts/deploy.sh",
    'uv run python -c "\nimport sys\nprint(sys.path)\n"',
    "python3 - <<'EOF'\nimport json\nprint(json.dumps({'a': 1}))\nEOF",
    "npm run dev",
    "npm start",
    "cargo run --bin server -- --port 8080",
    "go run ./cmd/server",
    "nohup python server.py > server.log 2>&1 &",
    "chmod +x /tmp/hello.sh && /tmp/hello.sh",
    "uvicorn app.main:app --reload --port 8000",
    'cd test && uv run python -c "\nfrom x import y\nprint(y)\n"',
    "deep-manifest --help",
    "coderabbit-extract --help 2>&1 | head -30",
    "python -m http.server 8000",
    "npx tsx scripts/seed.ts",
    "flask run --debug",
    "ruby script.rb",
    "php artisan serve",
]

NETWORK = [
    "curl -s http://localhost:8000/health",
    "curl -s https://api.github.com/repos/x/y | jq '.stargazers_count'",
    "wget -q https://example.com/file.tar.gz",
    "ssh user@host 'cd /srv && git pull && systemctl restart api'",
    "scp build.tar.gz deploy@host:/tmp/",
    "rsync -avz ./dist/ user@host:/var/www/",
    "curl -fsSL https://example.com/x.json -o x.json",
    "sleep 2 && curl -sf localhost:3000 >/dev/null && echo up",
    "ping -c 3 8.8.8.8",
    "aws s3 ls s3://bucket",
]

PROCESS = [
    "ps aux | grep node",
    'ps -ef | rg -i "Google Chrome|chrome.*remote"',
    "kill -9 $(lsof -ti:3000) 2>/dev/null || true",
    "pkill -f 'vite'",
    "lsof -i :8080",
    "killall node",
    "sudo systemctl restart nginx",
    "pgrep -fl uvicorn",
    "top -l 1 | head -20",
    "jobs -l",
]

SEARCH = [
    'grep -rn "TODO" src/',
    "rg -n 'def parse' --type py",
    "rg --files -g '*.py' | head -50",
    "find . -name '*.py' -not -path './.venv/*' | xargs wc -l",
    'find ~/.codex/sessions -name "*.jsonl" -size +5k | head -1 | xargs cat',
    "fd -e ts src",
    "ag 'useEffect' src/components",
    "cat package.json | grep version",
    "ls -la | grep env",
    "grep -c error logs/app.log",
    'find . -type f -name "*.md" -mmin -10 2>/dev/null',
    'tail -100 ~/.claude/history.jsonl | grep "/clear" | tail -3',
]

FILESYSTEM = [
    "mkdir -p src/components",
    "rm -rf node_modules dist",
    "mv old.py new.py",
    "cp -r template/ project/",
    "chmod +x scripts/*.sh",
    "touch src/__init__.py",
    "ln -sf ../shared shared",
    "cat > config.json <<'EOF'\n{\"debug\": true}\nEOF",
    "echo 'export PATH=$HOME/bin:$PATH' >> ~/.zshrc",
    "sed -i '' 's/foo/bar/g' src/app.ts",
    "sed -i.bak -e 's/old/new/' file.txt",
    "find . -name '__pycache__' -type d -exec rm -rf {} + 2>/dev/null",
    "find . -name '*.pyc' -delete",
    "grep -rl 'oldName' src | xargs sed -i 's/oldName/newName/g'",
    "tar -czf backup.tar.gz src/",
    "unzip -o archive.zip -d out/",
    "perl -pi -e 's/\\r$//' script.sh",
    "printf '%s\\n' a b c > list.txt",
    "mkdir -p out && cp a.txt out/ && ls out",
    "echo '{}' | tee config.json",
    "rsync -a src/ backup/",
    "patch -p1 < fix.diff",
]

FILEVIEW = [
    "ls",
    "ls -la",
    "cat README.md",
    "head -50 src/main.py",
    "tail -f logs/app.log",
    "sed -n '1,160p' README.md",
    "wc -l src/*.py",
    "tree -L 2 -I node_modules",
    "stat -f '%Sm' file.txt",
    "nl -ba src/app.ts | sed -n '90,108p'",
    "cat package.json | jq '.scripts'",
    "jq -r '.version' package.json",
    "diff -u a.txt b.txt",
    "du -sh node_modules",
    "pwd && ls -la",
    "awk -F, '{print $2}' data.csv | sort | uniq -c | sort -rn | head",
    "less +G logs/app.log",
    "python3 -m json.tool data.json",
    "file dist/app",
    "cat <<'EOF' | jq -r '.[] | .name'\n[{\"name\": \"a\"}]\nEOF",
    "ls -la ~/.claude/ 2>/dev/null | head -20",
]

OTHER = [
    "",
    "   ",
    "# just a comment",
    "echo hello",
    "cd /tmp",
    "export NODE_ENV=production",
    "source .venv/bin/activate",
    "which python3",
    "sleep 5",
    "true",
    "date +%s",
    "env",
    "set -euo pipefail",
]


def _cases(commands: list[str]) -> list[Any]:
    """Parametrise with readable ids (the command's first 60 characters)."""
    return [pytest.param(command, id=command[:60] or "<empty>") for command in commands]


class TestCategoryTable:
    """Real agent commands grouped by the category they must get."""

    @pytest.mark.parametrize("command", _cases(TEST))
    def test_test(self, command: str) -> None:
        """Running a test suite, also behind cd, venvs, runners and after lint steps."""
        assert categorize_command(command) == "test"

    @pytest.mark.parametrize("command", _cases(BUILD))
    def test_build(self, command: str) -> None:
        """Compiling and bundling; bare ``make`` and build scripts count."""
        assert categorize_command(command) == "build"

    @pytest.mark.parametrize("command", _cases(LINT))
    def test_lint(self, command: str) -> None:
        """Linters, formatters and type checkers, directly or through scripts."""
        assert categorize_command(command) == "lint"

    @pytest.mark.parametrize("command", _cases(PACKAGE))
    def test_package(self, command: str) -> None:
        """Installing dependencies, creating environments and scaffolding projects."""
        assert categorize_command(command) == "package"

    @pytest.mark.parametrize("command", _cases(GIT))
    def test_git(self, command: str) -> None:
        """Version control; heredoc and quoted commit messages are never read as commands."""
        assert categorize_command(command) == "git"

    @pytest.mark.parametrize("command", _cases(CONTAINER))
    def test_container(self, command: str) -> None:
        """docker/podman/kubectl/helm, whatever they run inside."""
        assert categorize_command(command) == "container"

    @pytest.mark.parametrize("command", _cases(RUN))
    def test_run(self, command: str) -> None:
        """Running scripts, inline code, servers and programs missing from the tables."""
        assert categorize_command(command) == "run"

    @pytest.mark.parametrize("command", _cases(NETWORK))
    def test_network(self, command: str) -> None:
        """HTTP clients, remote shells and copies, cloud CLIs."""
        assert categorize_command(command) == "network"

    @pytest.mark.parametrize("command", _cases(PROCESS))
    def test_process(self, command: str) -> None:
        """Inspecting and signalling processes and services."""
        assert categorize_command(command) == "process"

    @pytest.mark.parametrize("command", _cases(SEARCH))
    def test_search(self, command: str) -> None:
        """Searching file names or contents; a grep filter outranks viewing."""
        assert categorize_command(command) == "search"

    @pytest.mark.parametrize("command", _cases(FILESYSTEM))
    def test_filesystem(self, command: str) -> None:
        """Changing files: mutations, in-place edits and writes by redirection."""
        assert categorize_command(command) == "filesystem"

    @pytest.mark.parametrize("command", _cases(FILEVIEW))
    def test_fileview(self, command: str) -> None:
        """Read-only looks at files and directories (ls, cat, sed -n, jq)."""
        assert categorize_command(command) == "fileview"

    @pytest.mark.parametrize("command", _cases(OTHER))
    def test_other(self, command: str) -> None:
        """Nothing but builtins and no-ops, or no command at all."""
        assert categorize_command(command) == "other"

    def test_table_size(self) -> None:
        """The table stays large enough to pin down behaviour on real commands."""
        tables = [TEST, BUILD, LINT, PACKAGE, GIT, CONTAINER, RUN, NETWORK, PROCESS]
        tables += [SEARCH, FILESYSTEM, FILEVIEW, OTHER]
        assert sum(len(table) for table in tables) >= 130


class TestShellSyntax:
    """Shell constructs that must not confuse the split into simple commands."""

    @pytest.mark.parametrize(
        ("command", "expected"),
        [
            ("pytest # && git push", "test"),
            ("git status\npytest -q\n", "test"),
            ("ls; make", "build"),
            ("make || echo failed", "build"),
            ("npm run dev &\nsleep 3; curl localhost:5173", "run"),
            ("pytest > out.txt 2>&1", "test"),
            ("pytest &>/dev/null", "test"),
            ("echo hi >&2", "other"),
            ("cat file >/dev/null", "fileview"),
            ("(cd x; make)", "build"),
            ("{ cd x; npm test; }", "test"),
            ("if [ -f Makefile ]; then make; fi", "build"),
            ("while read f; do ruff check $f; done < files.txt", "lint"),
            ("echo 'pytest && make'", "other"),
            ('echo "$(git rev-parse HEAD)"', "other"),
            ("python3 -c 'print(1 << 2)'", "run"),
            ("cat <<-EOF > out.txt\n\tmake test\n\tEOF", "filesystem"),
            ("cat <<EOF\nunterminated heredoc\nmake", "fileview"),
            ("pytest \\\n  -x \\\n  -q", "test"),
            ("ls \\", "fileview"),
            ('echo "unterminated && pytest', "other"),
            ("git commit -m 'it is broken", "git"),
            ("sudo -u postgres psql -c 'select 1'", "run"),
            ("time npm run build", "build"),
            ("nice -n 10 timeout --signal=KILL 30s cargo test", "test"),
            ("env -i PATH=/usr/bin FOO=1 make", "build"),
            ("xargs -I {} -n 1 rm {}", "filesystem"),
            ('zsh -c "cd app && npm run build"', "build"),
            ("bash -euxo pipefail -c 'make lint'", "lint"),
            ('eval "$(pyenv init -)" && pytest', "test"),
            ("watch -n 5 'kubectl get pods'", "container"),
            ("command -v node", "other"),
            ("/usr/bin/env python3 tool.py", "run"),
            ('python3.11 -m pytest -k "not slow"', "test"),
            ("diff <(sort a.txt) <(sort b.txt)", "fileview"),
        ],
    )
    def test_constructs(self, command: str, expected: str) -> None:
        """Comments, newlines, operators, redirections, groups, heredocs and wrappers."""
        assert categorize_command(command) == expected

    def test_long_heredoc_is_fast_and_ignored(self) -> None:
        """A file written through a huge heredoc is one write, whatever its body says."""
        body = "\n".join(f"pytest line {n} && make" for n in range(20_000))
        assert categorize_command(f"cat > big.txt <<'EOF'\n{body}\nEOF") == "filesystem"


class TestArgv:
    """Codex gives commands as argv lists; words are already split."""

    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            (["bash", "-lc", "cd x && pytest"], "test"),
            (["/bin/zsh", "-lc", "sed -n '1,80p' src/app.ts"], "fileview"),
            (["ls", "-la"], "fileview"),
            (["git", "commit", "-m", "fix tests && npm test"], "git"),
            (["npm", "test"], "test"),
            (["python3", "-m", "pytest"], "test"),
            (["git status"], "git"),
            (["bash", "-c"], "other"),
            ([], "other"),
            (["", ""], "run"),
        ],
    )
    def test_argv(self, argv: list[str], expected: str) -> None:
        """Shells recurse into ``-c`` scripts; other words are never re-split."""
        assert categorize_argv(argv) == expected

    def test_string_and_junk(self) -> None:
        """A plain string is a command line; non-string items are ignored, not fatal."""
        assert categorize_argv("pytest -q") == "test"  # type: ignore[arg-type]
        assert categorize_argv([1, None, "ls"]) == "fileview"  # type: ignore[list-item]
        assert categorize_argv(None) == "other"  # type: ignore[arg-type]

    def test_non_string_command(self) -> None:
        """A non-string command is ``other`` rather than an exception."""
        assert categorize_command(None) == "other"  # type: ignore[arg-type]


SHELLISH = st.text(alphabet="ab -|&;()<>'\"\\$`\n\t#={}*EOF/.cx", max_size=80)


class TestProperties:
    """Arbitrary input never raises and always lands in CATEGORIES."""

    @settings(max_examples=500)
    @given(st.text())
    def test_any_text(self, text: str) -> None:
        """Unicode text of any shape is categorised."""
        assert categorize_command(text) in CATEGORIES

    @settings(max_examples=1000)
    @given(SHELLISH)
    def test_shell_punctuation(self, text: str) -> None:
        """Dense quotes, operators and heredoc markers exercise every lexer branch."""
        assert categorize_command(text) in CATEGORIES
        assert categorize_command("bash -c " + text) in CATEGORIES

    @settings(max_examples=300)
    @given(st.lists(st.one_of(SHELLISH, st.sampled_from(["bash", "-lc", "npx", "uv", "run"]))))
    def test_any_argv(self, argv: list[str]) -> None:
        """Any list of words is categorised."""
        assert categorize_argv(argv) in CATEGORIES

    def test_deep_nesting(self) -> None:
        """Pathological nesting is cut off instead of overflowing the stack."""
        assert categorize_command("npx " * 5_000 + "pytest") in CATEGORIES
        assert categorize_command("uv tool " * 5_000) in CATEGORIES
        assert categorize_command("$(" * 5_000) in CATEGORIES
        assert categorize_command("bash -c '" * 200 + "pytest") in CATEGORIES


def _walk(node: object) -> Iterator[dict[str, Any]]:
    """Every dict inside a decoded JSON value."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _json_lines(pattern: str) -> Iterator[object]:
    """Decoded lines of every fixture matching ``pattern``; broken lines are skipped."""
    for path in sorted(FIXTURES.glob(pattern)):
        for line in path.read_text(encoding="utf-8").split("\n"):
            try:
                yield json.loads(line)
            except ValueError:
                continue


def _claude_bash_commands() -> list[str]:
    """``input.command`` of every Claude ``Bash`` tool_use in the fixtures."""
    commands = []
    for record in _json_lines("claude/**/*.jsonl"):
        for node in _walk(record):
            command = (node.get("input") or {}).get("command")
            if node.get("name") == "Bash" and isinstance(command, str):
                commands.append(command)
    return commands


def _codex_commands() -> list[object]:
    """Shell commands of the Codex fixtures: argv lists and ``cmd`` strings."""
    commands: list[object] = []
    for record in _json_lines("codex/**/*.jsonl"):
        payload = record.get("payload") if isinstance(record, dict) else None
        if not isinstance(payload, dict):
            continue
        if payload.get("type") == "exec_command_end":
            commands.append(payload.get("command"))
        elif payload.get("type") == "function_call":
            try:
                arguments = json.loads(payload.get("arguments") or "{}")
            except ValueError:
                continue
            if isinstance(arguments, dict):
                commands.append(arguments.get("command") or arguments.get("cmd"))
    return [command for command in commands if command is not None]


class TestFixtures:
    """Every command in the real transcripts is categorised without raising."""

    def test_claude_bash_commands(self) -> None:
        """All Claude Bash commands land in CATEGORIES, and most are recognised."""
        commands = _claude_bash_commands()
        assert len(commands) > 100
        results = [categorize_command(command) for command in commands]
        assert set(results) <= set(CATEGORIES)
        assert results.count("other") < len(results) // 20

    def test_codex_commands(self) -> None:
        """All Codex argv lists and ``cmd`` strings land in CATEGORIES."""
        commands = _codex_commands()
        assert len(commands) > 50
        for command in commands:
            if isinstance(command, list):
                assert categorize_argv(command) in CATEGORIES
            else:
                assert categorize_command(str(command)) in CATEGORIES
