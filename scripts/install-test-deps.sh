#!/usr/bin/env bash
# Debian packages the test suite runs against: Apache ZooKeeper 3.8 (the reference
# server, its jars for the Java client and zkCli.sh), the C client library and
# tools, Python's kazoo and the Prometheus project's text-format parser (both for
# /usr/bin/python3), a JDK and a C compiler, the openssl command the TLS tests
# make their certificates with, and the Chromium the dashboard's browser tests
# drive (through playwright-core).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
  zookeeper zookeeper-bin libzookeeper-mt-dev python3-kazoo python3-prometheus-client \
  openjdk-17-jdk-headless gcc libc6-dev openssl chromium
