#!/usr/bin/env bash
# Builds the Temporal server and its SQL schema tool from Temporal's Go module, at the pinned
# version, into the tools cache outside the repository (the cluster test and an operator run the
# same binaries): $GRIN_PIPELINE_TOOLS (default ~/.cache/grin-pipeline/tools)/temporal-server-<version>/
# {temporal-server, temporal-sql-tool}. Does nothing when both are there.
#
# v1.32.2 declares Go 1.26.10; GOTOOLCHAIN (default go1.27.3) makes any Go >= 1.21 fetch that
# toolchain from the Go module proxy. A cold build takes several minutes; later runs are instant.
set -euo pipefail
VERSION="${TEMPORAL_SERVER_VERSION:-v1.32.2}"
TOOLS="${GRIN_PIPELINE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/grin-pipeline/tools}"
DEST="$TOOLS/temporal-server-$VERSION"
if [[ -x "$DEST/temporal-server" && -x "$DEST/temporal-sql-tool" ]]; then
  echo "$DEST"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "error: go is not on PATH; install Go (any version >= 1.21, it fetches GOTOOLCHAIN) to build the Temporal server $VERSION" >&2
  exit 2
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
mkdir -p "$DEST"
BUILD="$(mktemp -d "$DEST/.build-XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT
echo "building Temporal server $VERSION with $GOTOOLCHAIN into $DEST (first run only; minutes)" >&2
GOBIN="$BUILD" go install "go.temporal.io/server/cmd/server@$VERSION"
GOBIN="$BUILD" go install "go.temporal.io/server/cmd/tools/sql@$VERSION"
# Renamed into place last, so a half-built cache is never taken for a built one.
mv "$BUILD/sql" "$DEST/temporal-sql-tool"
mv "$BUILD/server" "$DEST/temporal-server"
echo "$DEST"
