#!/usr/bin/env python3
"""The dependency rules of docs/architecture.md, checked on the tree.

    check_layers.py SOURCE_ROOT     checks the tree; exit 1 with one line per
                                    violation (file:line: rule)
    check_layers.py --self-test     plants one violation of each rule in a
                                    throwaway tree and checks that each is
                                    caught (and that a clean tree passes)

Layers, top to bottom (a layer may include only what its row names):

    module/   entry points            -> core
    core/     the token model          -> akm, backend, config, common, lib
    akm/      the domain, typed        -> store, backend, common, lib
    store/    the registry's storage   -> common, lib
    backend/  the backend module       -> common, lib
    config/   the configuration file   -> common, lib
    common/   locks, logging, hmap     -> lib
    lib/      pure C                   -> nothing

Besides includes:
  * only backend/ calls through a PKCS#11 function list (`->C_...(`) or
    loads a module;
  * foreign libraries are used at one boundary each: SQLite in
    store/sqlite/, libsodium in lib/, p11-kit's module loading in backend/;
    OpenSSL nowhere in the module;
  * akm/ works on typed structs: no CK_ATTRIBUTE;
  * tools/ include nothing of src/ but the pure library (lib/).
"""
import os
import re
import shutil
import sys
import tempfile

PUBLIC = {"akm/pkcs11-akm.h", "akm-config.h"}  # include/ and the build's configuration

# layer -> the layers its files may include (its own is always allowed)
ALLOWED = {
    "module": {"core"},
    "core": {"akm", "backend", "config", "common", "lib"},
    "akm": {"store", "backend", "common", "lib"},
    "store": {"common", "lib"},
    "backend": {"common", "lib"},
    "config": {"common", "lib"},
    "common": {"lib"},
    "lib": set(),
}
LAYERS = set(ALLOWED)

# (regex, where it may appear (path prefixes under src/), what the rule says)
RESTRICTED = [
    (re.compile(r"->\s*C_[A-Z]\w*\s*\("), ("backend/",),
     "a call through a PKCS#11 function list outside backend/"),
    (re.compile(r"\b(p11_kit_module_load|dlopen)\s*\("), ("backend/",),
     "a module loaded outside backend/"),
    (re.compile(r"#\s*include\s*<sqlite3\.h>"), ("store/sqlite/",),
     "SQLite used outside store/sqlite/"),
    (re.compile(r"#\s*include\s*<sodium\.h>"), ("lib/",),
     "libsodium used outside lib/"),
    (re.compile(r"#\s*include\s*<openssl/"), (),
     "OpenSSL used in the module"),
    (re.compile(r"#\s*include\s*<p11-kit/p11-kit\.h>"), ("backend/",),
     "p11-kit's module API used outside backend/"),
]
AKM_TYPED = re.compile(r"\bCK_ATTRIBUTE(_PTR)?\b")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SOURCE = (".c", ".h")


def strip_comments(text):
    """The text with comments and string literals blanked (lines kept)."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(\\.|[^"\\\n])*"', blank, text, flags=re.S)


def sources(root):
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if name.endswith(SOURCE):
                yield os.path.join(dirpath, name)


def check_src(src):
    found = []
    for path in sources(src):
        rel = os.path.relpath(path, src)
        layer = rel.split(os.sep)[0]
        if layer not in LAYERS:
            found.append(f"src/{rel}:1: a folder that is no layer ({layer}/)")
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for no, line in enumerate(text.splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or m.group(1) in PUBLIC:
                continue
            target = m.group(1).split("/")[0]
            if target in LAYERS and target != layer and target not in ALLOWED[layer]:
                found.append(f"src/{rel}:{no}: {layer}/ includes {m.group(1)} ({target}/ is not below it)")
        code = strip_comments(text)
        unquoted = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)  # includes live outside comments
        for regex, where, rule in RESTRICTED:
            if any(rel.replace(os.sep, "/").startswith(p) for p in where):
                continue
            body = unquoted if regex.pattern.startswith("#") else code
            for m in regex.finditer(body):
                found.append(f"src/{rel}:{body.count(chr(10), 0, m.start()) + 1}: {rule}")
        if layer == "akm":
            for m in AKM_TYPED.finditer(code):
                found.append(f"src/{rel}:{code.count(chr(10), 0, m.start()) + 1}: "
                             "akm/ works on typed structs, not CK_ATTRIBUTE")
    return found


def check_tools(tools):
    found = []
    for path in sources(tools):
        rel = os.path.relpath(path, os.path.dirname(tools))
        with open(path, encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m or m.group(1) in PUBLIC:
                    continue
                target = m.group(1).split("/")[0]
                own = os.path.exists(os.path.join(os.path.dirname(path), m.group(1))) or \
                    os.path.exists(os.path.join(tools, m.group(1)))
                if target in LAYERS and target != "lib" and not own:
                    found.append(f"{rel}:{no}: a tool includes {m.group(1)} (tools use PKCS#11 and lib/ only)")
                elif target in LAYERS and own:
                    found.append(f"{rel}:{no}: tools/{target}/ has the name of a layer of src/: "
                                 f"\"{m.group(1)}\" is ambiguous")
    return found


def check(root):
    return check_src(os.path.join(root, "src")) + check_tools(os.path.join(root, "tools"))


# ---- self-test ------------------------------------------------------------------

CLEAN = {
    "src/lib/hex.c": '#include "lib/hex.h"\n',
    "src/common/log.c": '#include "common/log.h"\n#include "lib/rv.h"\n',
    "src/backend/forward.c": '#include "backend/internal.h"\nCK_RV f(void) { return b->f->C_Login(s); }\n',
    "src/store/sqlite/rows.c": '#include <sqlite3.h>\n#include "store/store.h"\n',
    "src/akm/keys.c": '#include "akm/internal.h"\n#include "backend/backend.h"\n#include "akm/pkcs11-akm.h"\n'
                      '/* a comment may say CK_ATTRIBUTE or ->C_Login( */\n',
    "src/core/objects.c": '#include "core/internal.h"\n#include "akm/relationships.h"\n',
    "src/module/object.c": '#include "module/entry.h"\n#include "core/core.h"\n',
    "tools/nmm/main.c": '#include "lib/hex.h"\n#include "akm/pkcs11-akm.h"\n#include "out.h"\n',
}

VIOLATIONS = {
    "src/akm/bad_include.c": ('#include "core/core.h"\n', "akm/ includes core/core.h"),
    "src/store/bad_include.c": ('#include "akm/relationships.h"\n', "store/ includes akm/relationships.h"),
    "src/backend/bad_include.c": ('#include "core/core.h"\n', "backend/ includes core/core.h"),
    "src/lib/bad_include.c": ('#include "common/log.h"\n', "lib/ includes common/log.h"),
    "src/module/bad_include.c": ('#include "akm/relationships.h"\n', "module/ includes akm/relationships.h"),
    "src/core/bad_call.c": ("void f(void) { be->C_Encrypt(s, 0, 0, 0, 0); }\n",
                            "a call through a PKCS#11 function list outside backend/"),
    "src/akm/bad_load.c": ('void f(void) { dlopen("x", 0); }\n', "a module loaded outside backend/"),
    "src/akm/bad_sqlite.c": ("#include <sqlite3.h>\n", "SQLite used outside store/sqlite/"),
    "src/core/bad_sodium.c": ("#include <sodium.h>\n", "libsodium used outside lib/"),
    "src/store/bad_openssl.c": ("#include <openssl/evp.h>\n", "OpenSSL used in the module"),
    "src/akm/bad_typed.c": ("static CK_ATTRIBUTE t;\n", "akm/ works on typed structs"),
    "src/extra/file.c": ("int x;\n", "a folder that is no layer"),
    "tools/bad_tool.c": ('#include "core/core.h"\n', "a tool includes core/core.h"),
    "tools/clash.c": ('#include "common/x.h"\n', "has the name of a layer of src/", {"tools/common/x.h": "int x;\n"}),
}


def self_test():
    failures = []
    with tempfile.TemporaryDirectory() as root:
        def write(rel, text):
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        for rel, text in CLEAN.items():
            write(rel, text)
        found = check(root)
        if found:
            failures.append("a clean tree was refused:\n  " + "\n  ".join(found))
        for rel, (text, expected, *extra) in VIOLATIONS.items():
            extra = extra[0] if extra else {}
            for other, other_text in extra.items():
                write(other, other_text)
            write(rel, text)
            found = check(root)
            hits = [v for v in found if v.startswith(rel + ":") and expected in v]
            if not hits:
                failures.append(f"{rel}: '{expected}' not caught; found: {found}")
            for other in [rel, *extra]:
                os.remove(os.path.join(root, other))
            shutil.rmtree(os.path.join(root, "src", "extra"), ignore_errors=True)
    for f in failures:
        print("self-test:", f)
    print(f"self-test: {len(VIOLATIONS)} planted violations, {len(failures)} missed or wrong")
    return 1 if failures else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = check(argv[1])
    for v in found:
        print(v)
    print(f"layering: {len(found)} violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
