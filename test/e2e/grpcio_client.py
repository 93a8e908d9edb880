#!/usr/bin/python3
"""Proxyless xDS client driven by gRPC C-core (Debian's python3-grpcio), for the e2e tests.

Usage: grpcio_client.py xds:///TARGET [COMMAND ...] [-]

The xDS bootstrap comes from the environment (GRPC_XDS_BOOTSTRAP=path or
GRPC_XDS_BOOTSTRAP_CONFIG=json). Commands run in order; "-" reads further commands from stdin, one
per line, until "quit" or EOF, so one long-running channel can observe live config changes. Every
command prints exactly one JSON line on stdout (flushed):

  tally:N[:DEADLINE_S]             N unary calls to /test.Echo/Who (bytes in, bytes out)
      -> {"cmd":"tally","calls":N,"counts":{"v1":160,...},"errors":{"UNAVAILABLE":2}}
  until:ID:K:TIMEOUT_S[:DEADLINE_S] call until the last K calls were all answered by ID
      -> {"cmd":"until","ok":true,"calls":37,"counts":{...},"errors":{...},"elapsed":0.8}
  ready:TIMEOUT_S                  wait for the channel to become READY
      -> {"cmd":"ready","ok":true}
  quit                             close the channel and exit 0

Errors are counted by status code name; the last error's details are reported as "last_error".
Only the standard library and grpc are used.
"""
import collections
import json
import sys
import time

import grpc

METHOD = '/test.Echo/Who'


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + '\n')
    sys.stdout.flush()


class Caller:
    def __init__(self, target):
        self.channel = grpc.insecure_channel(target)
        # No serializers: request and response are raw bytes.
        self.who = self.channel.unary_unary(METHOD)

    def call(self, deadline_s):
        """Returns (backend_id, None) or (None, (code_name, details))."""
        try:
            return self.who(b'', timeout=deadline_s).decode('utf-8', 'replace'), None
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, 'code') else None
            name = code.name if code is not None else 'UNKNOWN'
            details = err.details() if hasattr(err, 'details') else str(err)
            return None, (name, details)

    def tally(self, n, deadline_s=5.0):
        counts, errors, last_error = collections.Counter(), collections.Counter(), None
        for _ in range(n):
            who, err = self.call(deadline_s)
            if err is None:
                counts[who] += 1
            else:
                errors[err[0]] += 1
                last_error = err[1]
        out = {'cmd': 'tally', 'calls': n, 'counts': dict(counts), 'errors': dict(errors)}
        if last_error is not None:
            out['last_error'] = last_error
        return out

    def until(self, want, k, timeout_s, deadline_s=2.0):
        start = time.monotonic()
        counts, errors, last_error = collections.Counter(), collections.Counter(), None
        recent = collections.deque(maxlen=k)
        calls = 0
        ok = False
        while time.monotonic() - start < timeout_s:
            who, err = self.call(min(deadline_s, max(0.1, timeout_s - (time.monotonic() - start))))
            calls += 1
            if err is None:
                counts[who] += 1
            else:
                errors[err[0]] += 1
                last_error = err[1]
                time.sleep(0.01)  # don't spin on a failing channel
            recent.append(who)
            if len(recent) == k and all(w == want for w in recent):
                ok = True
                break
        out = {'cmd': 'until', 'ok': ok, 'want': want, 'calls': calls, 'counts': dict(counts),
               'errors': dict(errors), 'elapsed': round(time.monotonic() - start, 3)}
        if last_error is not None:
            out['last_error'] = last_error
        return out

    def ready(self, timeout_s):
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout_s)
            return {'cmd': 'ready', 'ok': True}
        except grpc.FutureTimeoutError:
            return {'cmd': 'ready', 'ok': False}

    def close(self):
        self.channel.close()


def run(caller, command):
    """Runs one command; returns False on quit."""
    parts = command.strip().split(':')
    name, args = parts[0], parts[1:]
    try:
        if name == 'quit':
            emit({'cmd': 'quit'})
            return False
        if name == 'tally':
            emit(caller.tally(int(args[0]), *(float(a) for a in args[1:2])))
        elif name == 'until':
            emit(caller.until(args[0], int(args[1]), float(args[2]), *(float(a) for a in args[3:4])))
        elif name == 'ready':
            emit(caller.ready(float(args[0])))
        else:
            emit({'cmd': name, 'error': 'unknown command %r' % command})
    except (IndexError, ValueError) as err:
        emit({'cmd': name, 'error': 'bad arguments in %r: %s' % (command, err)})
    return True


def main(argv):
    if len(argv) < 2 or not argv[1].startswith('xds:'):
        sys.stderr.write(__doc__)
        return 2
    caller = Caller(argv[1])
    try:
        for command in argv[2:]:
            if command == '-':
                for line in sys.stdin:
                    if line.strip() and not run(caller, line):
                        return 0
                return 0
            if not run(caller, command):
                return 0
        return 0
    finally:
        caller.close()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
