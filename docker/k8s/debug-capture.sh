#!/usr/bin/env bash
# Captures a Node process in a running pod without touching its deployment: an ephemeral
# debug container from the heapsight image joins the pod, shares the process namespace of
# the app's container (--target) and runs `heapsight capture --pid`.
#
#   docker/k8s/debug-capture.sh [-n NAMESPACE] [-c CONTAINER] [-p PID] [-i IMAGE] POD [-- CAPTURE_ARGS...]
#
#   HEAPSIGHT_IMAGE=registry.example.com/heapsight:0.1.0 \
#     docker/k8s/debug-capture.sh -n shop checkout-7f9c5 -- \
#     --duration 10m --idle 30s --out "s3://my-bucket/leaks/checkout-$(date +%s)"
#
# CONTAINER defaults to the pod's first container, PID to 1 (node as the container's
# command), IMAGE to $HEAPSIGHT_IMAGE. CAPTURE_ARGS go to `heapsight capture` after
# `--pid PID` (default: --duration 10m). The script's exit code is the capture's (2: refused,
# nothing taken; see `heapsight capture --help`).
#
# Needs kubectl 1.27+ (`--profile=general`, which gives the debug container SYS_PTRACE, so it
# can read the app's /proc/<pid>/root when the app runs as another user) and ephemeral
# containers (Kubernetes 1.25+). Not run against a cluster where it was written (none there).
set -euo pipefail

usage() { sed -n '6,7p' "$0" | sed 's/^# *//' >&2; exit 64; }

namespace=() container="" pid=1 image="${HEAPSIGHT_IMAGE:-}"
while getopts "n:c:p:i:h" opt; do
    case "$opt" in
        n) namespace=(--namespace "$OPTARG") ;;
        c) container="$OPTARG" ;;
        p) pid="$OPTARG" ;;
        i) image="$OPTARG" ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
pod="$1"
shift
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || usage
    shift
fi
[ $# -gt 0 ] || set -- --duration 10m
if [ -z "$image" ]; then
    echo "debug-capture.sh: no image: set HEAPSIGHT_IMAGE or pass -i <registry>/heapsight:<tag>" >&2
    exit 64
fi
if [ -z "$container" ]; then
    container="$(kubectl get "${namespace[@]}" pod "$pod" -o 'jsonpath={.spec.containers[0].name}')"
fi

# Our own name for the debug container, so its exit code can be read afterwards.
debugger="heapsight-$(date +%s)"
tty=()
[ -t 0 ] && tty=(--tty)
echo "debug-capture.sh: pod/$pod, container $container, pid $pid, debug container $debugger" >&2
set +e
kubectl debug "${namespace[@]}" "pod/$pod" --stdin "${tty[@]}" \
    --image="$image" --container="$debugger" --target="$container" --profile=general \
    -- heapsight capture --pid "$pid" "$@"
attached=$?
set -e
# `kubectl debug` attached to the container returns when it ends, but not always with its
# exit code: ask the pod.
code=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
    code="$(kubectl get "${namespace[@]}" pod "$pod" -o "jsonpath={.status.ephemeralContainerStatuses[?(@.name==\"$debugger\")].state.terminated.exitCode}" || true)"
    [ -n "$code" ] && break
    sleep 1
done
if [ -z "$code" ]; then
    echo "debug-capture.sh: the debug container $debugger has not ended (kubectl debug returned $attached); its output: kubectl logs ${namespace[*]} $pod -c $debugger" >&2
    exit 1
fi
exit "$code"
