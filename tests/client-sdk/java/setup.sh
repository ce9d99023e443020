#!/bin/bash
# Builds the Java SDK (client-sdk/java) and its interop runner, downloading
# everything Maven needs (the only step that uses the network), and writes the
# runtime classpath for interop.sh to $FETCHPOOL_BUILD_DIR/sdk/java/classpath.txt.
# Idempotent; fast when done before (Maven's local repository is ~/.m2).
set -euo pipefail
src=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
build=${FETCHPOOL_BUILD_DIR:-$src/build}
pom=$src/client-sdk/java/pom.xml

if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven openjdk-17-jdk-headless >/dev/null
  else
    echo "sdk_java setup: needs mvn and a JDK 17" >&2
    exit 1
  fi
fi

mkdir -p "$build/sdk/java"
# The SDK jar, the generated stubs and the test classes (the interop runner is
# one of them).
mvn -B -q -T1 -Dstyle.color=never -f "$pom" -DskipTests package
# Surefire resolves its JUnit provider only when tests run: run the pure unit
# tests once here, so test.sh can run offline.
mvn -B -q -T1 -Dstyle.color=never -f "$pom" surefire:test -Dtest='PoolKeyTest,RingTest' -Dsurefire.failIfNoSpecifiedTests=false
mvn -B -q -T1 -Dstyle.color=never -f "$pom" dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile="$build/sdk/java/classpath.txt"
echo "sdk_java setup: built $(ls "$src"/client-sdk/java/target/fetchpool-client-*.jar)"
