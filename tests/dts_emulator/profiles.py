"""Latency profiles: how long the emulated DTS takes to do things.

``fast`` is what the test suite uses (the durations the emulator always had, API answers at once).
``realistic`` is a guess at the real service for rehearsals and benchmarks. Every figure in it is an
ASSUMPTION: the vendor publishes no figure for a precheck, SuspendDtsJob -> Suspending or a start ->
running (reference dts-reverse-flow.md, "Durations and limits"). The Terraform provider's waiters
(its authors' defaults, not measurements) poll prechecks for up to 10 minutes with a first poll after
5 s, and a sync task's start for up to 10 minutes after a 60 s initial delay: prechecks take minutes,
not seconds, and 90 s is at the short end of that.

A ``scale`` multiplies every duration and the API latency (0.1: everything ten times faster), so a
rehearsal under ``realistic`` ends in minutes; figures measured under a scale are converted back with
:func:`unscaled`.
"""

PROFILES = {
    # Seconds. Keys as in jobs.DEFAULT_DURATIONS; api_latency: every API answer waits that long.
    'fast': {'durations': {}, 'api_latency': 0.0},
    'realistic': {
        'durations': {'precheck': 90.0, 'reverse_precheck': 90.0, 'pause': 5.0, 'resume': 15.0, 'writer': 15.0},
        'api_latency': 0.15,
    },
}


def profile_settings(name, scale=1.0, durations=None):
    """(durations, api_latency) of profile ``name`` times ``scale``, with explicit ``durations`` (seconds,
    not scaled: a rehearsal's own copy time, a test's precheck) on top."""
    if name not in PROFILES:
        raise ValueError('unknown DTS latency profile %r (known: %s)' % (name, ', '.join(sorted(PROFILES))))
    scale = float(scale)
    if scale <= 0:
        raise ValueError('the latency scale must be a number > 0, got %r' % (scale,))
    from .jobs import DEFAULT_DURATIONS  # pylint: disable=import-outside-toplevel
    merged = dict(DEFAULT_DURATIONS)
    merged.update(PROFILES[name]['durations'])
    merged = {key: value * scale for key, value in merged.items()}
    for key, value in (durations or {}).items():
        if key not in DEFAULT_DURATIONS:
            raise ValueError('unknown duration %r (known: %s)' % (key, ', '.join(sorted(DEFAULT_DURATIONS))))
        merged[key] = float(value)
    return merged, PROFILES[name]['api_latency'] * scale


def overlap(intervals, start, end):
    """Seconds of [start, end] covered by the union of ``intervals`` ((start, end) pairs)."""
    covered, reach = 0.0, start
    for left, right in sorted((max(left, start), min(right, end)) for left, right in intervals):
        if right <= max(left, reach):
            continue    # outside the span, or already counted
        covered += right - max(left, reach)
        reach = right
    return covered


def unscaled(measured, scaled_wait, scale):
    """A window measured under ``scale`` as it would be at real scale: the part of it spent waiting for
    the emulated DTS (``scaled_wait``: transitions and API answers inside the window) grows by 1/scale,
    the rest (the databases, Ansible, the role's own work) is real time already."""
    return measured + scaled_wait * (1.0 / float(scale) - 1.0)
