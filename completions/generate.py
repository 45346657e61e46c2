#!/usr/bin/env python3
"""Writes the bash, zsh and fish completions of azhub from the binary's own --help output, so
that they list exactly the subcommands and flags the binary has.

    python3 completions/generate.py path/to/azhub [outdir]      # default outdir: completions/
    python3 completions/generate.py --check path/to/azhub       # exit 1 if the files are stale

The help text is CLI11's: "Subcommands:", "Positionals:" and option sections with lines
"  -c,--connection-string TYPE   description". A value whose type is FILE completes file names,
DIR directories, and TYPE:{a,b} the listed choices.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FILE_TYPES = {"FILE", "PATH"}
DIR_TYPES = {"DIR", "DIRECTORY"}
# Options that name a file or directory whatever their help calls the value.
FILE_OPTIONS = {"--file", "--key-file", "--ca-file", "--cert", "--cert-key", "--client-ca"}
DIR_OPTIONS = {"--state-dir"}


class Option:
    def __init__(self, names, type_spec, desc):
        self.names = names                      # ["-c", "--connection-string"]
        self.type_spec = type_spec              # "" for a flag
        self.desc = desc
        base = re.split(r"[:=\s]", type_spec, maxsplit=1)[0] if type_spec else ""
        choices = re.search(r":\{([^}]*)\}", type_spec)
        if not type_spec:
            self.kind = "flag"
        elif choices:
            self.kind = "choices"
        elif base in FILE_TYPES:
            self.kind = "file"
        elif base in DIR_TYPES:
            self.kind = "dir"
        else:
            self.kind = "value"
        if self.kind == "value" and set(names) & FILE_OPTIONS:
            self.kind = "file"
        elif self.kind == "value" and set(names) & DIR_OPTIONS:
            self.kind = "dir"
        self.choices = choices.group(1).split(",") if choices else []

    @property
    def longs(self):
        return [n for n in self.names if n.startswith("--")]

    @property
    def shorts(self):
        return [n for n in self.names if not n.startswith("--")]


class Command:
    def __init__(self, path, desc=""):
        self.path = path                        # ("service", "device", "create")
        self.desc = desc
        self.options = []
        self.subcommands = []                   # [Command]


def run_help(binary, path):
    proc = subprocess.run([binary] + list(path) + ["--help"], capture_output=True, text=True,
                          timeout=30, env=dict(os.environ, COLUMNS="200"))
    if proc.returncode != 0:
        raise SystemExit("%s --help failed: %s" % (" ".join(path), proc.stderr))
    return proc.stdout


def parse_help(text):
    """(options, [(subcommand, description)])"""
    options, subcommands = [], []
    section = None
    pending = None  # an option whose description is on the next line
    for line in text.splitlines():
        if not line.strip():
            pending = None
            continue
        if not line.startswith(" "):
            section = line.rstrip(":").strip() if line.rstrip().endswith(":") else None
            pending = None
            continue
        if pending is not None and re.match(r"^\s{20,}\S", line):
            pending.desc = line.strip()
            pending = None
            continue
        stripped = line.strip()
        if section == "Subcommands":
            parts = re.split(r"\s{2,}", stripped, maxsplit=1)
            subcommands.append((parts[0], parts[1] if len(parts) > 1 else ""))
        elif section not in (None, "Positionals") and re.match(r"^  -", line) and \
                re.match(r"^-{1,2}[A-Za-z][\w-]*(,-{1,2}[A-Za-z][\w-]*)*( |$)", stripped):
            # An option row: two spaces, then the names (footer text is indented otherwise).
            parts = re.split(r"\s{2,}", stripped, maxsplit=1)
            head = parts[0].split(" ", 1)
            names = head[0].split(",")
            type_spec = head[1].strip() if len(head) > 1 else ""
            opt = Option(names, type_spec, parts[1] if len(parts) > 1 else "")
            options.append(opt)
            if len(parts) == 1:
                pending = opt
    return options, subcommands


def walk(binary, path=(), desc=""):
    cmd = Command(path, desc)
    options, subs = parse_help(run_help(binary, path))
    cmd.options = [o for o in options if o.names != ["-h", "--help"]] + \
        [o for o in options if o.names == ["-h", "--help"]]
    for name, sub_desc in subs:
        cmd.subcommands.append(walk(binary, path + (name,), sub_desc))
    return cmd


def all_commands(root):
    yield root
    for sub in root.subcommands:
        yield from all_commands(sub)


def with_globals(cmd, root):
    """The options valid at `cmd`: its own, plus the root's (-o, -v fall through)."""
    if cmd is root:
        return list(cmd.options)
    own = {n for o in cmd.options for n in o.names}
    return cmd.options + [o for o in root.options
                          if not set(o.names) & own and o.longs not in (["--help"], ["--version"])]


def sh_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


HEADER = "generated by completions/generate.py from `azhub --help`; do not edit by hand"


# --------------------------------------------------------------------------------------------
def bash(root):
    out = ["# bash completion for azhub (%s)." % HEADER,
           "# Installed as share/bash-completion/completions/azhub.", ""]
    out.append("_azhub_subcommands() {")
    out.append('  case "$1" in')
    for cmd in all_commands(root):
        if cmd.subcommands:
            out.append('    %s) echo %s ;;' % (sh_quote(" ".join(cmd.path)),
                                            sh_quote(" ".join(s.path[-1] for s in cmd.subcommands))))
    out += ["  esac", "}", ""]
    out.append("_azhub_options() {")
    out.append('  case "$1" in')
    for cmd in all_commands(root):
        names = [n for o in with_globals(cmd, root) for n in o.names]
        out.append('    %s) echo %s ;;' % (sh_quote(" ".join(cmd.path)), sh_quote(" ".join(names))))
    out += ["  esac", "}", ""]
    out.append("# What follows option $2 of command \"$1\": file, dir, value, choices:<words>, or")
    out.append("# nothing for a flag.")
    out.append("_azhub_value() {")
    out.append('  case "$1|$2" in')
    for cmd in all_commands(root):
        for o in with_globals(cmd, root):
            if o.kind == "flag":
                continue
            kind = "choices:" + " ".join(o.choices) if o.kind == "choices" else o.kind
            pats = "|".join(sh_quote(" ".join(cmd.path) + "|" + n) for n in o.names)
            out.append("    %s) echo %s ;;" % (pats, sh_quote(kind)))
    out += ["  esac", "}", ""]
    out.append(r'''_azhub() {
  local cur=${COMP_WORDS[COMP_CWORD]} path="" word kind i
  COMPREPLY=()
  # The command path so far: every word before the cursor that names a subcommand of the
  # path before it; option values are skipped.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word == -* ]]; then
      [[ $word == *=* ]] && continue
      kind=$(_azhub_value "$path" "$word")
      [[ -n $kind ]] && ((i++))
    elif [[ " $(_azhub_subcommands "$path") " == *" $word "* ]]; then
      path=${path:+$path }$word
    fi
  done
  local prev=""
  ((COMP_CWORD > 1)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  local value_for=$prev
  if [[ $cur == --*=* ]]; then
    value_for=${cur%%=*}
    cur=${cur#*=}
  elif [[ $prev == = ]] && ((COMP_CWORD > 2)); then
    # bash splits "--opt=val" at '=' (COMP_WORDBREAKS): the option is two words back.
    value_for=${COMP_WORDS[COMP_CWORD - 2]}
  elif [[ $cur == = && $prev == --* ]]; then
    cur=""
  elif [[ $prev != -* ]]; then
    value_for=""
  fi
  if [[ -n $value_for ]]; then
    kind=$(_azhub_value "$path" "$value_for")
    case $kind in
      file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
      dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
      choices:*) mapfile -t COMPREPLY < <(compgen -W "${kind#choices:}" -- "$cur"); return ;;
      value) return ;;
    esac
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_azhub_options "$path")" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "$(_azhub_subcommands "$path")" -- "$cur")
  fi
}
complete -F _azhub azhub''')
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
def zsh_escape(text):
    """A description for _describe's "name:description" (only the name's colons matter)."""
    return text


def zsh(root):
    out = ["#compdef azhub",
           "# zsh completion for azhub (%s)." % HEADER,
           "# Installed as share/zsh/vendor-completions/_azhub.", ""]
    out.append("_azhub_subcommands() {  # name:description per line")
    out.append('  case "$1" in')
    for cmd in all_commands(root):
        if cmd.subcommands:
            items = " ".join(sh_quote("%s:%s" % (s.path[-1], zsh_escape(s.desc))) for s in cmd.subcommands)
            out.append("    %s) print -rl -- %s ;;" % (sh_quote(" ".join(cmd.path)), items))
    out += ["  esac", "}", ""]
    out.append("_azhub_options() {  # option:description per line")
    out.append('  case "$1" in')
    for cmd in all_commands(root):
        items = " ".join(sh_quote("%s:%s" % (n, zsh_escape(o.desc))) for o in with_globals(cmd, root)
                         for n in o.names)
        out.append("    %s) print -rl -- %s ;;" % (sh_quote(" ".join(cmd.path)), items))
    out += ["  esac", "}", ""]
    out.append("_azhub_value() {  # file, dir, value, choices:<words>, or nothing for a flag")
    out.append('  case "$1|$2" in')
    for cmd in all_commands(root):
        for o in with_globals(cmd, root):
            if o.kind == "flag":
                continue
            kind = "choices:" + " ".join(o.choices) if o.kind == "choices" else o.kind
            pats = "|".join(sh_quote(" ".join(cmd.path) + "|" + n) for n in o.names)
            out.append("    (%s) print -r -- %s ;;" % (pats, sh_quote(kind)))
    out += ["  esac", "}", ""]
    out.append(r'''# What to offer for the word at $CURRENT in $words: prints "kind" on the first line (files,
# dirs, none, words) and the candidates (name:description) after it.
_azhub_candidates() {
  local path="" word kind i cur=${words[CURRENT]}
  for ((i = 2; i < CURRENT; i++)); do
    word=${words[i]}
    if [[ $word == -* ]]; then
      [[ $word == *=* ]] && continue
      kind=$(_azhub_value "$path" "$word")
      [[ -n $kind ]] && ((i++))
    elif (( ${${(f)"$(_azhub_subcommands "$path")"}[(I)${(b)word}:*]} )); then
      path=${path:+$path }$word
    fi
  done
  local value_for=""
  (( CURRENT > 2 )) && [[ ${words[CURRENT-1]} == -* ]] && value_for=${words[CURRENT-1]}
  [[ $cur == --*=* ]] && value_for=${cur%%=*}
  if [[ -n $value_for ]]; then
    kind=$(_azhub_value "$path" "$value_for")
    case $kind in
      file) print files; return ;;
      dir) print dirs; return ;;
      value) print none; return ;;
      choices:*) print words; print -rl -- ${=kind#choices:}; return ;;
    esac
  fi
  print words
  if [[ $cur == -* ]]; then
    _azhub_options "$path"
  else
    _azhub_subcommands "$path"
  fi
}

_azhub() {
  local -a lines candidates
  lines=("${(@f)$(_azhub_candidates)}")
  case ${lines[1]} in
    files) _files ;;
    dirs) _files -/ ;;
    words)
      candidates=("${(@)lines[2,-1]}")
      (( ${#candidates} )) && _describe -t values 'azhub' candidates ;;
  esac
}

if [[ ${funcstack[1]} == _azhub ]]; then
  _azhub "$@"
else
  compdef _azhub azhub 2>/dev/null
fi''')
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
def fish_quote(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish(root):
    out = ["# fish completion for azhub (%s)." % HEADER,
           "# Installed as share/fish/vendor_completions.d/azhub.fish.", ""]
    out.append("function __azhub_subcommands")
    out.append('    switch "$argv"')
    for cmd in all_commands(root):
        if cmd.subcommands:
            out.append("        case %s" % fish_quote(" ".join(cmd.path)))
            out.append("            printf '%%s\\n' %s" % " ".join(s.path[-1] for s in cmd.subcommands))
    out += ["    end", "end", ""]
    out.append("function __azhub_takes_value  # command path, option")
    out.append('    switch "$argv[1]|$argv[2]"')
    takes = []
    for cmd in all_commands(root):
        for o in with_globals(cmd, root):
            if o.kind != "flag":
                takes += [fish_quote(" ".join(cmd.path) + "|" + n) for n in o.names]
    out.append("        case %s" % " ".join(takes))
    out.append("            return 0")
    out += ["    end", "    return 1", "end", ""]
    out.append(r'''# The subcommand path of the command line before the cursor, e.g. "service device".
function __azhub_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $t
            if not string match -q -- '*=*' $t; and __azhub_takes_value "$path" $t
                set skip 1
            end
        else if contains -- $t (__azhub_subcommands "$path")
            set -a path $t
        end
    end
    echo "$path"
end

function __azhub_at
    test (__azhub_path) = "$argv"
end

complete -c azhub -f''')
    for cmd in all_commands(root):
        cond = "-n %s" % fish_quote("__azhub_at %s" % " ".join(cmd.path)) if cmd.path else \
            "-n %s" % fish_quote("__azhub_at ''")
        for sub in cmd.subcommands:
            out.append("complete -c azhub %s -a %s -d %s" % (cond, sub.path[-1], fish_quote(sub.desc)))
        for o in with_globals(cmd, root):
            parts = ["complete -c azhub", cond]
            parts += ["-l " + n[2:] for n in o.longs]
            parts += ["-s " + n[1:] for n in o.shorts]
            if o.kind == "file":
                parts.append("-r -F")
            elif o.kind == "dir":
                parts.append("-r -x -a '(__fish_complete_directories)'")
            elif o.kind == "choices":
                parts.append("-x -a %s" % fish_quote(" ".join(o.choices)))
            elif o.kind == "value":
                parts.append("-x")
            if o.desc:
                parts.append("-d " + fish_quote(o.desc))
            out.append(" ".join(parts))
    return "\n".join(out) + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if not args:
        raise SystemExit(__doc__)
    binary = args[0]
    outdir = args[1] if len(args) > 1 else HERE
    root = walk(binary)
    files = {"azhub.bash": bash(root), "_azhub": zsh(root), "azhub.fish": fish(root)}
    stale = []
    for name, text in files.items():
        path = os.path.join(outdir, name)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale completions (run: python3 completions/generate.py <azhub>): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
