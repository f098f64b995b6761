"""Categorise the shell commands that coding agents run.

Agents issue long compound commands (``cd /repo && source .venv/bin/activate && pytest -x
2>&1 | tail -20``), so a command is split into simple commands and every one is classified;
the command as a whole takes the most significant category among them. ``CATEGORIES``
lists every category in that precedence order, most significant first::

    test > build > lint > package > git > container > run > network > process
         > filesystem > search > fileview > other

Why this order: the goal of a compound command beats its set-up (``npm install && npm test``
is testing); a mutation beats a look-up (``grep -l x | xargs sed -i …`` edits files); reading
output through a filter is only viewing (``git log | head`` is git, ``cat f | grep y`` is
search). ``lint`` covers linters, formatters and type checkers (``ruff``, ``tsc --noEmit``).

Decisions on ambiguous commands:

* ``ls``/``tree``/``stat``/``du``/``pwd`` are ``fileview`` (read-only inspection), as are
  ``cat``/``head``/``tail``/``wc``/``jq``/``awk`` and ``sed`` without ``-i``; ``sed -i``,
  ``perl -pi`` and writing a file by redirection (``cat > f <<EOF``, ``echo x > f``) are
  ``filesystem``, which holds every mutation (``mkdir``, ``rm``, ``mv``, ``tar``, ``patch``).
* ``find`` is ``search``, but ``find … -delete`` / ``-exec rm`` is ``filesystem``.
* ``python -c …`` and ``python script.py`` are ``run``; a script whose name says what it is
  (``python test_x.py``, ``./build.sh``) takes that category.
* ``make`` with no target is ``build``; targets and npm/just scripts are read by keyword
  (``make test`` → test, ``npm run typecheck`` → lint, ``npm run dev`` → run).
* Builtins that do nothing by themselves (``cd``, ``echo``, ``export``, ``source``) never
  decide the category; a command made only of them is ``other``. A program missing from the
  tables (a project's own CLI) is ``run``: it executes something, which beats ``| head``.

Text is split by a small lenient lexer rather than ``shlex``: ``shlex`` raises on unbalanced
quotes and treats newlines as blanks, while agents' commands use newlines as separators and
carry heredocs whose bodies must not be read as commands. Nothing here raises.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache

import msgspec

__all__ = ["CATEGORIES", "categorize_argv", "categorize_command"]

CATEGORIES: tuple[str, ...] = (
    "test", "build", "lint", "package", "git", "container", "run",
    "network", "process", "filesystem", "search", "fileview", "other",
)  # fmt: skip
_RANK = {name: rank for rank, name in enumerate(CATEGORIES)}
_MAX_DEPTH = 8  # nesting of bash -c / npx / uv run; real commands use two or three levels
_MAX_CHARS = 200_000  # a longer command is a heredoc full of file content
_CACHE_MAX_CHARS = 4_096  # only short commands are cached, so the cache stays small


def _names(text: str) -> frozenset[str]:
    """Space-separated names as a set; keeps the long tables below readable."""
    return frozenset(text.split())


# Categories of programs whose name alone decides.
_CATEGORY_COMMANDS = {
    "git": "git gh hub glab tig lazygit git-lfs jj svn hg",
    "test": "pytest py.test ptw pytest-watch jest vitest mocha ava karma jasmine cypress "
    "rspec phpunit pest paratest ctest bats shellspec behave nose2 ward coverage trial busted "
    "prove gotestsum ginkgo cucumber cucumber-js detox newman wtr web-test-runner",
    "lint": "ruff black isort flake8 pylint mypy dmypy pyright basedpyright pyre ty pyflakes "
    "pycodestyle pydocstyle bandit autopep8 autoflake yapf pyupgrade vulture eslint prettier "
    "biome stylelint tslint standard xo oxlint dprint vue-tsc svelte-check gofmt goimports "
    "golangci-lint staticcheck revive rustfmt shellcheck shfmt hadolint markdownlint "
    "markdownlint-cli2 yamllint actionlint rubocop standardrb clang-format clang-tidy "
    "cppcheck cpplint swiftlint swiftformat ktlint detekt pre-commit lefthook vale codespell "
    "typos taplo sqlfluff djlint commitlint knip semgrep",
    "build": "cmake ninja meson bazel bazelisk buck buck2 scons gcc g++ cc c++ clang clang++ "
    "rustc javac kotlinc scalac swiftc ghc webpack rollup esbuild parcel tsup swc babel ncc "
    "pyinstaller nuitka cython maturin msbuild xcodebuild ant sphinx-build protoc emcc "
    "wasm-pack tailwindcss ccache-build",
    "package": "pip brew apt apt-get aptitude dnf yum apk pacman zypper port snap flatpak gem "
    "rustup nvm fnm volta asdf mise pyenv rbenv virtualenv corepack cargo-binstall conan "
    "vcpkg nix-env dpkg rpm",
    "run": "java ts-node nodemon uvicorn gunicorn hypercorn daphne flask streamlit gradio "
    "jupyter jupyter-lab ipython irb rscript julia lua luajit elixir iex erl kotlin scala "
    "groovy osascript wasmtime wasmer gdb lldb honcho foreman overmind http-server "
    "live-server",
    "network": "curl wget ssh scp sftp ftp nc ncat netcat telnet ping ping6 dig nslookup host "
    "traceroute tracepath mtr http https xh httpie aria2c websocat grpcurl aws gcloud gsutil "
    "az doctl flyctl heroku ngrok cloudflared",
    "process": "ps kill pkill killall pgrep pidof lsof fuser top htop btop atop jobs fg bg "
    "disown systemctl launchctl service journalctl netstat ss pm2 supervisorctl tmux screen "
    "free vmstat iostat nvidia-smi",
    "container": "docker docker-compose podman podman-compose nerdctl buildah skopeo kubectl "
    "kubectx kubens helm helmfile kustomize minikube kind k3d k3s k9s skaffold tilt colima "
    "limactl oc eksctl crictl ctr vagrant",
    "search": "grep egrep fgrep zgrep rg ripgrep ag ack fd fdfind locate mlocate plocate ast-grep",
    "fileview": "cat bat batcat head tail less more most view wc ls ll la dir exa eza lsd tree "
    "stat file du df ncdu awk gawk mawk nawk jq yq gojq fx sort uniq cut tr column nl xxd "
    "hexdump od strings diff diff3 sdiff cmp comm colordiff delta difft md5 md5sum sha1sum "
    "sha256sum sha512sum shasum cksum b2sum readlink realpath basename dirname pwd tac rev "
    "fold fmt paste join expand unexpand zcat zless gzcat bzcat xzcat zstdcat xmllint iconv "
    "mlr xsv glow",
    "filesystem": "mkdir rmdir rm mv cp chmod chown chgrp touch ln install tar zip unzip gzip "
    "gunzip bzip2 bunzip2 xz unxz zstd unzstd 7z 7za unrar truncate mktemp shred dd split "
    "csplit patch unlink mkfifo trash trash-put rename cpio ditto setfacl chattr xattr",
}
_COMMANDS = {name: cat for cat, names in _CATEGORY_COMMANDS.items() for name in names.split()}

# Builtins and no-ops: they never decide a compound command's category.
_NEUTRAL = _names(
    "cd pushd popd source . export unset set shopt alias unalias echo printf true false : "
    "sleep exit return test [ [[ read local declare typeset readonly let shift trap ulimit "
    "umask hash type which whence where whereis history clear reset date whoami id hostname "
    "uname printenv wait break continue fi done esac } for select case function nproc "
    "locale"
)

# Prefix commands that run the rest of the line: (options taking a value, positionals to skip).
_Wrapper = tuple[frozenset[str], int]
_NO_OPTS: _Wrapper = (frozenset(), 0)
_WRAPPERS: dict[str, _Wrapper] = {
    "sudo": (_names("-u -g -h -p -C -U -r -t -D --user --group --host --chdir"), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "time": (frozenset({"-f", "-o", "--format", "--output"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p", "--class", "--classdata"}), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "gtimeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "env": (frozenset({"-u", "-C", "-S", "--unset", "--chdir", "--split-string"}), 0),
    "xargs": (_names("-I -n -P -L -d -E -s -a --max-args --max-procs --delimiter "
                     "--arg-file --max-lines --eof --max-chars --replace"), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), 0),
    "caffeinate": (frozenset({"-t", "-w"}), 0),
    "watch": (frozenset({"-n", "--interval"}), 0),
    "flock": (frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}), 1),
    "strace": (frozenset({"-e", "-o", "-p", "-s"}), 0),
    "xvfb-run": (frozenset({"-n", "-s", "-f", "-e", "--server-args"}), 0),
    "exec": (frozenset({"-a"}), 0),
    **dict.fromkeys(
        _names("nohup command builtin chronic unbuffer setsid noglob nocorrect arch valgrind "
               "ltrace ccache sccache then do else elif if while until ! {"),
        _NO_OPTS,
    ),
}  # fmt: skip

# Keywords in script, target and task names (npm run X, make X, gradle X, just X).
_SCRIPT_WORDS = {
    word: cat
    for cat, words in {
        "test": "spec specs e2e unit integration coverage cov jest vitest pytest mocha cypress "
        "playwright verify pretest posttest unittest unittests smoke",
        "build": "build builds compile bundle dist release assemble pack package clean rebuild "
        "prebuild sdist bdist wheel generate gen codegen jar war archive",
        "lint": "lint linter lints eslint prettier biome format fmt typecheck types tsc mypy "
        "ruff style check clippy vet stylelint pyright",
        "package": "install deps dependencies dependency setup bootstrap update upgrade sync "
        "lock restore vendor fetch",
        "container": "docker compose k8s kube helm",
        "run": "start dev serve server run watch preview storybook demo exec runserver",
    }.items()
    for word in words.split()
}
# File names are weaker evidence than script names: only these words count.
_FILE_WORDS = {
    **dict.fromkeys(["spec", "specs", "e2e"], "test"),
    **dict.fromkeys(["build", "compile"], "build"),
    **dict.fromkeys(["lint", "format"], "lint"),
    **dict.fromkeys(["install", "setup"], "package"),
}
_SCRIPT_EXTENSIONS = (".sh", ".bash", ".zsh", ".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl")
_TASK_FILES: dict[str, tuple[str, Mapping[str, str]]] = {
    "setup.py": ("build", {"install": "package", "develop": "package", "test": "test"}),
    "manage.py": ("run", {}),
    "artisan": ("run", {}),
}

_UNKNOWN = "@unknown"  # a program not in the tables; counts as run, but wrappers look closer
_UNWRAP = "@unwrap"  # the rest is a command: `poetry run pytest`
_SCRIPT = "@script"  # the next word is a script name: `npm run build`
_NESTED = "@nested"  # the rest is another subcommand of the same tool: `uv tool run`
_SKIP_ONE = "@skip-one"  # skip a name, then a subcommand: `yarn workspace web build`
_GLOBAL_VALUE_OPTS = _names(
    "-C --prefix --dir --cwd --filter -F -w --workspace --manifest-path -f --file --directory "
    "--project --config --justfile -x --exclude-task -pl -P -s"
)
_UNWRAP_VALUE_OPTS = _names(
    "--with --python -p --project --directory --package --extra --group --env-file --index "
    "--from -n --name --prefix --spec -w --workspace --filter -F -C --cwd --dir --only-group "
    "--with-requirements --with-editable --index-url --extra-index-url --environment"
)


class _Tool(msgspec.Struct, frozen=True):
    """A program whose first positional word is a subcommand (``cargo test``, ``npm ci``)."""

    bare: str  # category when no subcommand is given
    default: str  # default for an unknown subcommand, refined by its keywords
    subcommands: Mapping[str, str] = msgspec.field(default_factory=dict)
    multi: bool = False  # every positional is a target (make, gradle), not a subcommand
    unwrap_unknown: bool = False  # an unknown subcommand is a binary or script (yarn jest)


_JS_PM = {"test": "test", "t": "test", "tst": "test", "start": "run", "run": _SCRIPT,
          "run-script": _SCRIPT, "rr": _SCRIPT, "exec": _UNWRAP, "dlx": _UNWRAP,
          "x": _UNWRAP, "workspace": _SKIP_ONE, "create": "package", "init": "package",
          "i": "package", "ci": "package", "add": "package", "a": "package", "remove": "package",
          "rm": "package", "un": "package", "uninstall": "package", "up": "package",
          "outdated": "package", "audit": "package", "why": "package", "ls": "package",
          "list": "package", "link": "package", "publish": "package",
          "info": "package"}  # fmt: skip
_WEB_FRAMEWORK = _Tool("run", "run", {"export": "build", "e2e": "test"})
_TASK_RUNNER = _Tool("run", "run", multi=True)
_TOOLS: dict[str, _Tool] = {
    "cargo": _Tool("build", "build", {
        "t": "test", "nextest": "test", "llvm-cov": "test", "tarpaulin": "test", "bench": "test",
        "b": "build", "doc": "build", "c": "lint", "check": "lint", "clippy": "lint",
        "r": "run", "add": "package", "remove": "package", "rm": "package", "new": "package",
        "init": "package", "search": "package", "tree": "package", "publish": "package"}),
    "go": _Tool("other", "build", {"install": "build", "vet": "lint", "get": "package",
                                   "mod": "package", "work": "package", "version": "other",
                                   "env": "other", "doc": "other", "tool": "run"}),
    "npm": _Tool("package", "package", _JS_PM),
    "yarn": _Tool("package", "run", _JS_PM, unwrap_unknown=True),
    "pnpm": _Tool("package", "run", _JS_PM, unwrap_unknown=True),
    "bun": _Tool("run", "run", {**_JS_PM, "build": "build"}, unwrap_unknown=True),
    "uv": _Tool("package", "package", {"run": _UNWRAP, "tool": _NESTED, "build": "build",
                                       "format": "lint"}),
    "pipx": _Tool("package", "package", {"run": _UNWRAP}),
    "poetry": _Tool("package", "package", {"run": _UNWRAP, "build": "build", "check": "lint",
                                           "shell": "run", "publish": "package"}),
    "pipenv": _Tool("package", "package", {"run": _UNWRAP, "shell": "run", "check": "package"}),
    "pdm": _Tool("package", "package", {"run": _UNWRAP, "build": "build"}),
    "hatch": _Tool("run", "package", {"run": _UNWRAP, "test": "test", "build": "build",
                                      "fmt": "lint", "shell": "run", "env": "package"}),
    "rye": _Tool("package", "package", {"run": _UNWRAP}),
    "conda": _Tool("package", "package", {"run": _UNWRAP}),
    "mamba": _Tool("package", "package", {"run": _UNWRAP}),
    "micromamba": _Tool("package", "package", {"run": _UNWRAP}),
    "bundle": _Tool("package", "package", {"exec": _UNWRAP}),
    "composer": _Tool("package", "package", {"run-script": _SCRIPT, "run": _SCRIPT,
                                             "exec": _UNWRAP}),
    "deno": _Tool("run", "run", {"bench": "test", "check": "lint", "task": _SCRIPT,
                                 "add": "package", "cache": "package", "outdated": "package"}),
    "dotnet": _Tool("other", "build", {"publish": "build", "restore": "package", "new": "package",
                                       "add": "package", "tool": "package"}),
    "swift": _Tool("run", "run", {"package": "package", "build": "build"}),
    "zig": _Tool("build", "build", {"init": "package"}),
    "mvn": _Tool("build", "build", {"install": "build", "deploy": "build", "package": "build",
                                    "site": "build", "integration-test": "test"}, multi=True),
    "gradle": _Tool("build", "build", {"check": "test"}, multi=True),
    "make": _Tool("build", "build", {"check": "test", "all": "build"}, multi=True),
    "just": _TASK_RUNNER, "task": _TASK_RUNNER, "mage": _TASK_RUNNER, "invoke": _TASK_RUNNER,
    "rake": _TASK_RUNNER, "gulp": _Tool("build", "build", multi=True),
    "grunt": _Tool("build", "build", multi=True),
    "turbo": _Tool("build", "build", {"run": _SCRIPT, "prune": "build"}),
    "nx": _Tool("build", "build", {"run": _SCRIPT, "serve": "run", "e2e": "test"}),
    "lerna": _Tool("build", "build", {"run": _SCRIPT, "exec": _UNWRAP, "bootstrap": "package"}),
    "vite": _Tool("run", "run", {"optimize": "build"}),
    "next": _WEB_FRAMEWORK, "nuxt": _WEB_FRAMEWORK, "nuxi": _WEB_FRAMEWORK,
    "astro": _WEB_FRAMEWORK, "ng": _WEB_FRAMEWORK, "remix": _WEB_FRAMEWORK,
    "gatsby": _WEB_FRAMEWORK, "expo": _WEB_FRAMEWORK, "svelte-kit": _WEB_FRAMEWORK,
    "mkdocs": _Tool("run", "run", {"gh-deploy": "build"}),
    "django-admin": _Tool("run", "run"), "rails": _Tool("run", "run", {"s": "run"}),
    "mix": _Tool("build", "build", {"phx.server": "run"}),
    "stack": _Tool("build", "build"), "cabal": _Tool("build", "build"),
    "dune": _Tool("build", "build", {"runtest": "test", "exec": "run"}),
    "sbt": _Tool("build", "build", multi=True),
    "playwright": _Tool("test", "test", {"install": "package", "codegen": "run"}),
    "pants": _Tool("build", "build", multi=True),
}  # fmt: skip
_TOOL_ALIASES = {"mvnw": "mvn", "gradlew": "gradle", "gmake": "make", "inv": "invoke",
                 "bundler": "bundle", "bunx": "npx", "pnpx": "npx", "uvx": "npx",
                 "nodejs": "node", "gsed": "sed", "dash": "sh", "ash": "sh", "ksh": "sh",
                 "mksh": "sh", "bash": "sh", "zsh": "sh", "fish": "sh", "py": "python",
                 "pypy": "python", "pypy3": "python", "docker-compose": "docker"}  # fmt: skip
_PY_MODULES = {"unittest": "test", "doctest": "test", "test": "test", "venv": "package",
               "ensurepip": "package", "virtualenv": "package", "build": "build",
               "compileall": "build", "py_compile": "build", "json.tool": "fileview",
               "http.server": "run", "pdb": "run", "cProfile": "run", "timeit": "run"}  # fmt: skip

_PLAIN = re.compile(r"[^ \t\r\n\f\v;&|()<>\\'\"$`]+")
_PLAIN_DOUBLE = re.compile(r'[^"\\$`]+')
_OPERATORS = ("&>>", "<<<", "<<-", "&&", "||", "|&", ";;", ";&", ">>", ">|", "&>", "<<", "<>",
              ">&", "<&", ";", "&", "|", "(", ")", "<", ">")  # fmt: skip
_OPERATOR_CHARS = frozenset(";&|()<>")
_BLANKS = frozenset(" \t\r\f\v")
_SEPARATORS = frozenset({";", ";;", ";&", "&&", "||", "|&", "&", "|", "(", ")", "\n"})
_OUTPUT_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", ">&"})
_NOT_FILES = frozenset({"", "-", "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_HEREDOC = re.compile(r"(?<!<)<<-?[ \t]*(?:'([^'\n]+)'|\"([^\"\n]+)\"|\\?([A-Za-z_][\w.-]*))")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_VERSIONED = re.compile(r"(python|pip|pypy)[0-9.]*")
_NAME_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_HOST_PATH = re.compile(r"^(?:[\w.-]+@)?[\w.-]+:|^rsync://")

_Segment = tuple[tuple[str, ...], bool]  # (words, writes a file by redirection)
_Handler = Callable[[list[str], int], "str | None"]


def categorize_command(command: str) -> str:
    """Return the category of a shell command line; arbitrary text yields ``"other"``."""
    if not isinstance(command, str):
        return "other"
    text = command[:_MAX_CHARS]
    if len(text) <= _CACHE_MAX_CHARS:
        return _categorize_cached(text)
    return _categorize_script(text, 0) or "other"


def categorize_argv(argv: Sequence[str]) -> str:
    """Return the category of an argv list such as Codex's ``["bash", "-lc", "pytest"]``.

    The words are already split, so they are classified as one simple command; a shell
    with ``-c`` recurses into its script.
    """
    if isinstance(argv, str):
        return categorize_command(argv)
    if not isinstance(argv, (list, tuple)):
        return "other"
    words = tuple(word[:_MAX_CHARS] for word in argv if isinstance(word, str))
    if sum(len(word) for word in words) <= _CACHE_MAX_CHARS:
        return _categorize_argv_cached(words)
    return _segment_category((words, False), 0) or "other"


@lru_cache(maxsize=4096)
def _categorize_cached(text: str) -> str:
    """Cache per command text: agents repeat the same commands many times a session."""
    return _categorize_script(text, 0) or "other"


@lru_cache(maxsize=1024)
def _categorize_argv_cached(words: tuple[str, ...]) -> str:
    """Cache per argv, for the same reason as :func:`_categorize_cached`."""
    return _segment_category((words, False), 0) or "other"


def _categorize_script(text: str, depth: int) -> str | None:
    """Classify a whole script; ``None`` means it only ran neutral builtins."""
    if depth > _MAX_DEPTH:
        return None
    segments = _segments(_lex(_strip_heredocs(text)))
    return _most_significant(_segment_category(segment, depth) for segment in segments)


def _segment_category(segment: _Segment, depth: int) -> str | None:
    """Classify one simple command; writing a file upgrades a mere view or no-op."""
    words, writes_file = segment
    category = _categorize_words(list(words), depth)
    if writes_file and category in (None, "fileview"):
        return "filesystem"
    return "run" if category == _UNKNOWN else category


def _most_significant(categories: Iterable[str | None]) -> str | None:
    """Pick the category earliest in :data:`CATEGORIES`."""
    best: str | None = None
    for category in categories:
        if category is not None and (best is None or _RANK[category] < _RANK[best]):
            best = category
    return best


# --- lexing -------------------------------------------------------------------------------


def _strip_heredocs(text: str) -> str:
    """Drop heredoc bodies, which are data (commit messages, file content), not commands.

    As in bash, a body without its delimiter line runs to the end of the text. The operator
    becomes a plain input redirection so that a nested ``bash -c`` script does not look again.
    """
    if "<<" not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        delimiters = [next(g for g in m.groups() if g) for m in _HEREDOC.finditer(line)]
        out.append(_HEREDOC.sub("< _heredoc_", line) if delimiters else line)
        index = _heredoc_end(lines, index, delimiters) + 1
    return "\n".join(out)


def _heredoc_end(lines: list[str], start: int, delimiters: list[str]) -> int:
    """Index of the line closing the last heredoc opened on ``lines[start]``."""
    position = start
    for delimiter in delimiters:
        position += 1
        while position < len(lines) and lines[position].strip() != delimiter:
            position += 1
    return position


def _lex(text: str) -> list[tuple[bool, str]]:
    """Split shell text into ``(is_operator, value)`` tokens; newlines are separators."""
    tokens: list[tuple[bool, str]] = []
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char in _BLANKS:
            index += 1
        elif char == "\n":
            tokens.append((True, "\n"))
            index += 1
        elif char == "#":
            newline = text.find("\n", index)
            index = size if newline < 0 else newline
        elif char in _OPERATOR_CHARS:
            operator = _match_operator(text, index)
            tokens.append((True, operator))
            index += len(operator)
        elif text.startswith("\\\n", index):
            index += 2
        else:
            start = index
            word, index = _read_word(text, index)
            if not (index < size and text[index] in "<>" and text[start:index].isdigit()):
                tokens.append((False, word))  # digits glued to < or > are a descriptor
    return tokens


def _match_operator(text: str, index: int) -> str:
    """The longest shell operator starting at ``index``."""
    for operator in _OPERATORS:
        if text.startswith(operator, index):
            return operator
    return text[index]


def _read_word(text: str, index: int) -> tuple[str, int]:
    """Read one word, removing quotes; unterminated quotes run to the end of the text."""
    parts: list[str] = []
    size = len(text)
    while index < size:
        plain = _PLAIN.match(text, index)
        if plain:
            parts.append(plain.group())
            index = plain.end()
            continue
        char = text[index]
        if char in _BLANKS or char in _OPERATOR_CHARS or char == "\n":
            break
        if char == "\\":
            parts.append(text[index + 1 : index + 2].replace("\n", ""))
            index += 2
        elif char == "'":
            end = _find(text, "'", index + 1)
            parts.append(text[index + 1 : end])
            index = end + 1
        elif char == '"':
            value, index = _read_double_quoted(text, index + 1)
            parts.append(value)
        else:
            value, index = _read_dollar_or_backtick(text, index)
            parts.append(value)
    return "".join(parts), index


def _read_double_quoted(text: str, index: int) -> tuple[str, int]:
    """Read the inside of a double-quoted string; returns the index after the quote."""
    parts: list[str] = []
    size = len(text)
    while index < size:
        char = text[index]
        if char == '"':
            return "".join(parts), index + 1
        if char == "\\" and index + 1 < size:
            following = text[index + 1]
            parts.append(following if following in '"\\$`' else "\\" + following)
            index += 2
        elif char in "$`":
            value, index = _read_dollar_or_backtick(text, index)
            parts.append(value)
        else:
            plain = _PLAIN_DOUBLE.match(text, index)
            end = plain.end() if plain else index + 1
            parts.append(text[index:end])
            index = end
    return "".join(parts), size


def _read_dollar_or_backtick(text: str, index: int) -> tuple[str, int]:
    """Copy ``$(…)``, ``${…}``, ``$'…'`` or a backtick span verbatim, or a lone ``$``."""
    following = text[index + 1 : index + 2]
    if text[index] == "`":
        end = _find_unescaped(text, "`", index + 1)
        return text[index : end + 1], end + 1
    if following in ("(", "{"):
        end = _skip_group(text, index + 1)
        return text[index:end], end
    if following == "'":
        end = _find_unescaped(text, "'", index + 2)
        return text[index + 2 : end], end + 1
    return "$", index + 1


def _skip_group(text: str, index: int) -> int:
    """Index just after the bracket matching ``text[index]``, minding nested quotes."""
    closing = {"(": ")", "{": "}"}
    stack = [text[index]]
    index += 1
    size = len(text)
    while index < size and stack:
        char = text[index]
        top = stack[-1]
        if char == "\\":
            index += 2
            continue
        if top == '"':
            if char == '"':
                stack.pop()
            elif char == "$" and text[index + 1 : index + 2] in ("(", "{"):
                stack.append(text[index + 1])
                index += 1
        elif char == "'":
            index = _find(text, "'", index + 1)
        elif char == '"' or char in closing:
            stack.append(char)
        elif char == closing[top]:
            stack.pop()
        index += 1
    return min(index, size)


def _find(text: str, char: str, index: int) -> int:
    """Index of ``char`` from ``index``, or the end of the text."""
    found = text.find(char, index)
    return len(text) if found < 0 else found


def _find_unescaped(text: str, char: str, index: int) -> int:
    """Index of ``char`` not escaped by a backslash, or the end of the text."""
    size = len(text)
    while index < size:
        if text[index] == "\\":
            index += 2
        elif text[index] == char:
            return index
        else:
            index += 1
    return size


def _segments(tokens: list[tuple[bool, str]]) -> list[_Segment]:
    """Group tokens into simple commands, dropping redirections and noting file writes."""
    segments: list[_Segment] = []
    words: list[str] = []
    writes_file = False
    redirect: str | None = None
    for is_operator, value in tokens:
        if is_operator and value in _SEPARATORS:
            if words or writes_file:
                segments.append((tuple(words), writes_file))
            words, writes_file, redirect = [], False, None
        elif is_operator:
            redirect = value
        elif redirect is not None:
            target_is_file = value not in _NOT_FILES and not value.isdigit()
            writes_file = writes_file or (redirect in _OUTPUT_REDIRECTS and target_is_file)
            redirect = None
        else:
            words.append(value)
    if words or writes_file:
        segments.append((tuple(words), writes_file))
    return segments


# --- classifying simple commands ----------------------------------------------------------


def _categorize_words(words: list[str], depth: int) -> str | None:
    """Classify one simple command given as words; ``None`` for neutral builtins.

    May return :data:`_UNKNOWN`, which callers turn into ``run`` or refine.
    """
    if depth > _MAX_DEPTH:
        return None
    words = _strip_prefixes(words)
    if not words:
        return None
    head, args = words[0], words[1:]
    if any(char.isspace() for char in head):  # a quoted script: `watch "ls | wc"`, argv
        return _categorize_script(head, depth + 1)
    name = _command_name(head)
    handler = _HANDLERS.get(name)
    if handler is not None:
        return handler(args, depth)
    if name in _NEUTRAL:
        return None
    if name in _COMMANDS:
        return _COMMANDS[name]
    if "/" in head or name.endswith(_SCRIPT_EXTENSIONS):
        return _file_category(head, args)
    return _UNKNOWN


def _strip_prefixes(words: list[str]) -> list[str]:
    """Drop variable assignments and wrappers (``sudo``, ``timeout 30``, ``xargs -I {}``)."""
    start = 0
    while start < len(words):
        head = words[start]
        if _ASSIGNMENT.match(head):
            start += 1
            continue
        name = _command_name(head)
        if name == "command" and words[start + 1 : start + 2] in (["-v"], ["-V"]):
            return []
        spec = _WRAPPERS.get(name)
        if spec is None:
            break
        start = _skip_options(words, start + 1, spec[0]) + spec[1]
    return words[start:]


def _skip_options(words: list[str], index: int, value_options: frozenset[str]) -> int:
    """Index of the first word after the options starting at ``index``."""
    while index < len(words):
        word = words[index]
        if word == "--":
            return index + 1
        if not word.startswith(("-", "+")) or word in ("-", "+"):
            return index
        index += 2 if word in value_options else 1
    return index


def _command_name(word: str) -> str:
    """Normalise a command word: basename, lower case, ``python3.11`` → ``python``."""
    name = word.rsplit("/", 1)[-1].lower().removesuffix(".exe")
    versioned = _VERSIONED.fullmatch(name)
    if versioned:
        name = versioned.group(1)
    return _TOOL_ALIASES.get(name, name)


def _script_category(name: str, default: str, words: Mapping[str, str] = _SCRIPT_WORDS) -> str:
    """Classify a script, target or file name by its keywords (``test:e2e``, ``runTests``)."""
    parts = [part.lower() for part in _NAME_PART.findall(name)]
    found = _most_significant("test" if p.startswith("test") else words.get(p) for p in parts)
    return found or default


def _file_category(path: str, args: list[str]) -> str:
    """Classify running a file: a known tool by path, a task file, or a script."""
    base = path.rsplit("/", 1)[-1].lower()
    if base in _TASK_FILES:
        default, overrides = _TASK_FILES[base]
        if not args:
            return default
        return overrides.get(args[0]) or _script_category(args[0], default)
    if base in _COMMANDS:
        return _COMMANDS[base]
    return _script_category(base, "run", _FILE_WORDS)


def _run_tool(tool: _Tool, args: list[str], depth: int) -> str | None:
    """Classify a subcommand-style tool (cargo, npm, make, uv, gradle, …)."""
    if tool.multi:
        targets = _positionals(args)
        found = (tool.subcommands.get(t) or _script_category(t, tool.default) for t in targets)
        return _most_significant(found) or tool.bare
    index = _skip_options(args, 0, _GLOBAL_VALUE_OPTS)
    if index >= len(args) or depth > _MAX_DEPTH:
        return tool.bare
    sub, rest = args[index], args[index + 1 :]
    action = tool.subcommands.get(sub)
    if action == _UNWRAP:
        return _unwrap(rest, depth)
    if action == _SCRIPT:
        names = _positionals(rest)
        return _script_category(names[0], "run") if names else "run"
    if action in (_NESTED, _SKIP_ONE):
        return _run_tool(tool, rest[1:] if action == _SKIP_ONE else rest, depth + 1)
    if action is not None:
        return action
    if tool.unwrap_unknown:
        return _unwrap(args[index:], depth)
    return _script_category(sub, tool.default)


def _positionals(args: list[str]) -> list[str]:
    """Non-option words before ``--``, skipping option values and ``VAR=value``."""
    found: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            break
        if word.startswith("-"):
            index += 2 if word in _GLOBAL_VALUE_OPTS else 1
            continue
        if not _ASSIGNMENT.match(word):
            found.append(word)
        index += 1
    return found


def _unwrap(args: list[str], depth: int) -> str:
    """Classify the command run by ``npx``/``uv run``/``poetry run``; unknown ones are run."""
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "-":
        option = args[index]
        if option == "--":
            index += 1
            break
        if option in ("-c", "--call"):  # `npx -c 'cmd'` gives a shell script
            script = args[index + 1] if index + 1 < len(args) else ""
            return _categorize_script(script, depth + 1) or "run"
        index += 2 if option in _UNWRAP_VALUE_OPTS else 1
    rest = args[index:]
    if not rest:
        return "run"
    head = _package_name(rest[0])
    if head.startswith("create-"):
        return "package"
    inner = _categorize_words([head, *rest[1:]], depth + 1)
    if inner is None or inner == _UNKNOWN:
        return _script_category(head, "run")
    return inner


def _package_name(word: str) -> str:
    """``@scope/pkg@1.2`` → ``pkg``; plain words and paths are unchanged."""
    if word.startswith("@") and "/" in word:
        word = word.split("/", 1)[1]
    return word.split("@", 1)[0] if "@" in word[1:] and "/" not in word else word


# --- programs whose arguments matter --------------------------------------------------------


def _python(args: list[str], depth: int) -> str:
    """``python -m X`` is X; ``-c`` is run; a script is classified by its name."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-m"):
            module = arg[2:] or (args[index + 1] if index + 1 < len(args) else "")
            rest = args[index + (1 if arg[2:] else 2) :]
            return _python_module(module, rest, depth)
        if arg.startswith("-c"):
            return "run"
        if arg in ("-V", "--version"):
            return "other"
        if arg.startswith("-") and arg != "-":
            index += 2 if arg in ("-W", "-X") else 1
            continue
        return _file_category(arg, args[index + 1 :])
    return "run"


def _python_module(module: str, rest: list[str], depth: int) -> str:
    """Classify ``python -m module``; tools reached this way are classified as themselves."""
    if module in _PY_MODULES:
        return _PY_MODULES[module]
    inner = _categorize_words([module, *rest], depth + 1) if module else None
    return "run" if inner in (None, _UNKNOWN) else inner


def _interpreter(
    eval_flags: frozenset[str], value_options: frozenset[str], test_flags: frozenset[str]
) -> _Handler:
    """Build a handler for node/ruby/php-style interpreters: flags, then a script file."""

    def handle(args: list[str], depth: int) -> str:
        index = 0
        while index < len(args):
            arg = args[index]
            if arg in test_flags:
                return "test"
            if arg in eval_flags:
                return "run"
            if arg in ("-v", "-V", "--version"):
                return "other"
            if not arg.startswith("-") or arg == "-":
                return _file_category(arg, args[index + 1 :])
            index += 2 if arg in value_options else 1
        return "run"

    return handle


def _shell(args: list[str], depth: int) -> str | None:
    """``bash -lc 'script'`` is its script; ``bash file.sh`` runs a file."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            index += 2
            continue
        if arg == "--" or not arg.startswith(("-", "+")):
            break
        if not arg.startswith("--") and "c" in arg[1:]:
            script = args[index + 1] if index + 1 < len(args) else ""
            return _categorize_script(script, depth + 1)
        index += 2 if arg.endswith(("o", "O")) and not arg.startswith("--") else 1
    rest = args[index + 1 :] if args[index : index + 1] == ["--"] else args[index:]
    return _file_category(rest[0], rest[1:]) if rest else "run"


def _eval(args: list[str], depth: int) -> str | None:
    """``eval`` runs its arguments joined as a script."""
    return _categorize_script(" ".join(args), depth + 1)


def _find_command(args: list[str], depth: int) -> str:
    """``find`` searches, unless it deletes or runs a file-changing command per match."""
    for index, arg in enumerate(args):
        if arg == "-delete":
            return "filesystem"
        if arg in ("-exec", "-execdir", "-ok", "-okdir"):
            inner = args[index + 1 :]
            ends = [i for i, word in enumerate(inner) if word in (";", "+")]
            inner = inner[: ends[0]] if ends else inner
            if _categorize_words(inner, depth + 1) == "filesystem":
                return "filesystem"
    return "search"


def _sed(args: list[str], depth: int) -> str:
    """``sed -i`` edits files in place; any other sed only prints."""
    return "filesystem" if any(_is_in_place(arg) for arg in args) else "fileview"


def _perl(args: list[str], depth: int) -> str:
    """``perl -pi -e`` edits in place, a one-liner prints, anything else runs a script."""
    if any(_is_in_place(arg) for arg in args):
        return "filesystem"
    if any(arg.startswith("-") and ("e" in arg or "E" in arg) for arg in args):
        return "fileview"
    scripts = [arg for arg in args if not arg.startswith("-")]
    return _file_category(scripts[0], scripts[1:]) if scripts else "run"


def _is_in_place(arg: str) -> bool:
    """Whether ``arg`` is sed/perl's in-place flag, possibly clustered (``-pi``, ``-i.bak``)."""
    if arg.startswith("--"):
        return arg.startswith("--in-place")
    cluster = arg[1:].split(".", 1)[0]
    return arg.startswith("-") and "i" in cluster and not cluster.startswith(("M", "I"))


def _tee(args: list[str], depth: int) -> str:
    """``tee file`` writes a file; bare ``tee`` only passes output through."""
    files = [arg for arg in args if not arg.startswith("-") and arg not in _NOT_FILES]
    return "filesystem" if files else "fileview"


def _tsc(args: list[str], depth: int) -> str:
    """``tsc --noEmit`` only type-checks; otherwise it compiles."""
    return "lint" if any(arg.lower() == "--noemit" for arg in args) else "build"


def _rsync(args: list[str], depth: int) -> str:
    """rsync to or from ``host:path`` is network, a local copy is filesystem."""
    remote = any(_HOST_PATH.match(arg) for arg in args if not arg.startswith("-"))
    return "network" if remote else "filesystem"


def _tox(args: list[str], depth: int) -> str:
    """tox/nox run tests unless the selected environments say otherwise (``-e lint``)."""
    selected = [
        env
        for option, value in itertools.pairwise(args)
        if option in ("-e", "-s", "--session", "--sessions")
        for env in value.split(",")
    ]
    return _most_significant(_script_category(env, "test") for env in selected) or "test"


def _go(args: list[str], depth: int) -> str | None:
    """``go install tool@version`` fetches a tool; other go subcommands are generic."""
    positionals = _positionals(args)
    if positionals[:1] == ["install"] and any("@" in word for word in positionals[1:]):
        return "package"
    return _run_tool(_TOOLS["go"], args, depth)


def _tool_handler(tool: _Tool) -> _Handler:
    """Bind a :class:`_Tool` description to the handler signature."""

    def handle(args: list[str], depth: int) -> str | None:
        return _run_tool(tool, args, depth)

    return handle


_HANDLERS: dict[str, _Handler] = {
    **{name: _tool_handler(tool) for name, tool in _TOOLS.items()},
    "go": _go,
    "python": _python,
    "node": _interpreter(
        frozenset({"-e", "-p", "--eval", "--print"}),
        frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader", "-C"}),
        frozenset({"--test"}),
    ),
    "ruby": _interpreter(frozenset({"-e"}), frozenset({"-r", "-I", "-C"}), frozenset()),
    "php": _interpreter(frozenset({"-r"}), frozenset({"-d", "-c"}), frozenset()),
    "tsx": _interpreter(frozenset({"-e", "--eval"}), frozenset(), frozenset({"--test"})),
    "sh": _shell,
    "eval": _eval,
    "npx": _unwrap,
    "find": _find_command,
    "sed": _sed,
    "perl": _perl,
    "tee": _tee,
    "tsc": _tsc,
    "rsync": _rsync,
    "tox": _tox,
    "nox": _tox,
}
