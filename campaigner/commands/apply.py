"""`campaigner apply CAMPAIGN.yaml | PLANFILE`: send every planned message exactly once, then report."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from campaigner.commands.common import (
    lookup_scenario,
    measured_latency,
    open_ledger,
    sent_lookup,
    state_option,
    target_option,
)
from campaigner.commands.selection import changed_since_option, for_each_campaign
from campaigner.errors import CampaignerError
from campaigner.text.escape import for_terminal

if TYPE_CHECKING:
    from campaigner.campaign.load import LoadedCampaign
    from campaigner.ledger.messages import Ledger
    from campaigner.plan.build import PlannedMessage, ScenarioChange
    from campaigner.plan.digest import PlanDigest
    from campaigner.recipients.reader import Skip
    from campaigner.sending.canary import CanaryOutcome
    from campaigner.sending.job import Job, SendCounts
    from campaigner.sending.replay import PlanReplay
    from campaigner.sending.target import Connection


class LineProgress:
    """Progress for logs (not a terminal): a line every few seconds."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.total = 0
        self.last = 0.0
        self.started = time.monotonic()
        self.last_counts: tuple[int, int, int] | None = None

    def phase(self, text: str) -> None:
        click.echo(for_terminal(text))  # names a scenario, quotes the provider

    def sending(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        click.echo(f"Sending {total} message(s)...")

    def sent(self, accepted: int, rejected: int, unknown: int) -> None:
        self.last_counts = (accepted, rejected, unknown)
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            done = accepted + rejected + unknown
            rate = done / max(now - self.started, 1e-6)
            click.echo(
                f"  {done}/{self.total} sent ({accepted} accepted, {rejected} rejected, "
                f"{unknown} in doubt), {rate:.0f}/s"
            )

    def done_sending(self) -> None:
        if self.total and self.last_counts is not None:
            accepted, rejected, unknown = self.last_counts
            seconds = time.monotonic() - self.started
            click.echo(
                f"  {accepted + rejected + unknown} sent in {seconds:.1f} s ({accepted} accepted, {rejected} rejected, "
                f"{unknown} in doubt)"
            )


class BarProgress(LineProgress):
    """Progress on a terminal: a bar with rate, ETA and counts (rich)."""

    def __init__(self) -> None:
        super().__init__()
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("Sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            transient=False,
        )
        self._task: Any = None

    def sending(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self._bar.start()
        self._task = self._bar.add_task("send", total=total or None, rate="0", counts="")

    def sent(self, accepted: int, rejected: int, unknown: int) -> None:
        if self._task is None:
            return
        done = accepted + rejected + unknown
        rate = done / max(time.monotonic() - self.started, 1e-6)
        self._bar.update(
            self._task,
            completed=done,
            rate=f"{rate:.0f}",
            counts=f"{accepted} accepted, {rejected} rejected, {unknown} in doubt",
        )

    def done_sending(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None


def _progress() -> LineProgress:
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb":
        return BarProgress()
    return LineProgress()


def _confirm(conn: Connection, auto_approve: bool, saved: bool) -> None:
    if conn.target.is_sandbox or auto_approve or saved:
        return
    if not sys.stdin.isatty():
        raise CampaignerError(
            "error: apply to a real provider needs confirmation: pass --auto-approve, "
            "or apply a reviewed saved plan (`campaigner plan --out FILE`, then `campaigner apply FILE`)"
        )
    answer = click.prompt(f"Send to {conn.target.id}? Only 'yes' will be accepted", default="", show_default=False)
    if answer.strip() != "yes":
        raise CampaignerError("Apply cancelled; nothing was sent.")


def _window(loaded: LoadedCampaign, now: datetime) -> None:
    send = loaded.spec.send
    if send.notAfter is not None and now >= send.notAfter:
        raise CampaignerError(
            f"error: the send window closed at {send.notAfter.isoformat()} (send.notAfter); nothing was sent"
        )
    if send.notBefore is not None and now < send.notBefore and send.localHours is None:
        # with send.localHours, messages are scheduled (sendAt) for notBefore or later instead
        raise CampaignerError(
            f"error: the send window opens at {send.notBefore.isoformat()} (send.notBefore); "
            "run apply then; nothing was sent"
        )


@click.command("apply")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (real provider).")
@click.option(
    "--wait",
    "wait",
    default=None,
    help="How long to wait for delivery reports (e.g. 5m); overrides report.wait.",
)
@click.option("--no-wait", is_flag=True, help="Do not wait for delivery reports.")
@click.option("--show-pii", is_flag=True, help="Show phone numbers and LINE keys unmasked in the plan.")
@click.option("--accept-canary", is_flag=True, help="After a failed or inconclusive canary: send the rest anyway.")
@click.option("--retry-canary", is_flag=True, help="After a failed or inconclusive canary: wait for more reports.")
@click.option("--resume-stopped", is_flag=True, help="Continue a send that send.stopWhen stopped.")
@click.option(
    "--expect-digest",
    "expect_digest",
    multiple=True,
    metavar="CAMPAIGN=DIGEST",
    help="Refuse CAMPAIGN, before sending anything, unless its plan digest is DIGEST (repeatable).",
)
@click.option("--require-digest", is_flag=True, help="Refuse every campaign that no --expect-digest names.")
@changed_since_option
@click.option(
    "--new-ledger",
    is_flag=True,
    help="In CI, accept a ledger file this run creates (the campaign was never sent: the logs keep 48 hours).",
)
@target_option
@state_option
def command(
    sources: tuple[str, ...],
    auto_approve: bool,
    wait: str | None,
    no_wait: bool,
    show_pii: bool,
    accept_canary: bool,
    retry_canary: bool,
    resume_stopped: bool,
    expect_digest: tuple[str, ...],
    require_digest: bool,
    new_ledger: bool,
    changed_since: str | None,
    target: str | None,
    state: str | None,
) -> None:
    """Apply campaign files, folders of them, or saved plans: each on its own, in turn.

    The exit code is the worst of them: one campaign's failure does not stop the others.
    """
    expected = parse_expected_digests(expect_digest)
    for_each_campaign(
        sources,
        changed_since,
        lambda path: apply_one(
            path,
            auto_approve,
            wait,
            no_wait,
            show_pii,
            accept_canary,
            retry_canary,
            resume_stopped,
            new_ledger,
            target,
            state,
            expected,
            require_digest,
        ),
        saved_plans=True,
        check=lambda names: unknown_digest_names(expected, names),
    )


def parse_expected_digests(values: tuple[str, ...]) -> dict[str, PlanDigest]:
    from campaigner.plan.digest import PlanDigest

    expected: dict[str, PlanDigest] = {}
    for value in values:
        campaign, sep, digest = value.partition("=")
        if not sep or not campaign.strip():
            raise CampaignerError(f"error: --expect-digest {value}: expected CAMPAIGN=DIGEST")
        try:
            expected[campaign.strip()] = PlanDigest.parse(digest)
        except ValueError as exc:
            raise CampaignerError(f"error: --expect-digest {campaign.strip()}: {exc}") from None
    return expected


def unknown_digest_names(expected: dict[str, PlanDigest], names: set[str]) -> None:
    unknown = sorted(set(expected) - names)
    if unknown:
        raise CampaignerError(
            f"error: --expect-digest names {', '.join(unknown)}, not among the campaigns to apply; "
            "nothing was sent (what is applied must be what was reviewed)"
        )


def check_digest(campaign: str, digest: PlanDigest, expected: PlanDigest | None, require: bool) -> None:
    """Refuse, before anything is sent, a plan that is not the reviewed one."""
    if expected is None:
        if require:
            raise CampaignerError(
                f"error: {campaign}: no --expect-digest names this campaign (--require-digest); nothing was sent"
            )
        return
    if digest.value != expected.value:
        raise CampaignerError(
            f"error: {campaign}: the plan no longer matches the reviewed one: {digest.differences(expected)}; "
            f"nothing was sent (reviewed {expected.value}, now {digest.value}; plan again and have it reviewed)"
        )


def apply_one(
    source: Path,
    auto_approve: bool,
    wait: str | None,
    no_wait: bool,
    show_pii: bool,
    accept_canary: bool,
    retry_canary: bool,
    resume_stopped: bool,
    new_ledger: bool,
    target: str | None,
    state: str | None,
    expected: dict[str, PlanDigest] | None = None,
    require_digest: bool = False,
) -> None:
    """Apply CAMPAIGN.yaml, or a saved plan: ensure the scenario, send each message once, report."""
    from campaigner.campaign.load import load_campaign
    from campaigner.campaign.spec import parse_duration
    from campaigner.plan import views as planview
    from campaigner.plan.build import build_plan
    from campaigner.plan.ids import bulk_id as make_bulk_id
    from campaigner.plan.saved import input_hashes, read_plan
    from campaigner.plan.schedule import LiveSchedule, scheduled, scheduler_for
    from campaigner.plan.stream import MessageStream
    from campaigner.sending.horizon import refuse_fresh_runner
    from campaigner.sending.replay import PlanReplay
    from campaigner.sending.target import choose_target, connect, state_location

    if accept_canary and retry_canary:
        raise CampaignerError("error: --accept-canary and --retry-canary exclude each other; choose one")
    rollout = Rollout(
        decision="accept" if accept_canary else "retry" if retry_canary else None, resume_stopped=resume_stopped
    )
    saved = None
    if source.suffix.lower() in (".yaml", ".yml"):
        loaded = load_campaign(source)
    else:
        saved = read_plan(source)
        saved.verify_inputs()
        loaded = load_campaign(saved.campaign_file)
    try:
        wait_seconds = 0.0 if no_wait else (parse_duration(wait) if wait else loaded.spec.report.wait)
    except ValueError as exc:
        raise CampaignerError(f"error: --wait: {exc}") from None
    chosen = choose_target(target, for_apply=True)
    if saved is not None and saved.target_id != chosen.id:
        raise CampaignerError(
            f"error: {source} was planned for target {saved.target_id}, but the target now is {chosen.id}; "
            "make the plan again for this target"
        )
    now = datetime.now(UTC)  # one instant for the plan shown and every pass's schedule (send.localHours)
    _window(loaded, now)
    scheduler = scheduler_for(loaded, now)
    campaign = loaded.spec.campaign
    bulk = make_bulk_id(chosen.id, campaign)
    location = state_location(given=state)
    refuse_fresh_runner(location, location.exists(), chosen, os.environ, new_ledger=new_ledger)
    ledger = open_ledger(chosen, create=True, state=state)
    assert ledger is not None
    replay: PlanReplay | None = None
    try:
        with connect(chosen, state=location) as conn:
            click.echo(conn.description + "\n")
            change = lookup_scenario(conn, loaded, ledger)
            # With a reviewed digest, the inputs must not move between the check and the send.
            pinned = input_hashes(loaded) if saved is None and campaign in (expected or {}) else None
            if saved is None:
                # A campaign the ledger has never seen: the plan's pass keeps every message for the send
                # passes (sending/replay.py), so that the CSV is read and rendered once, not twice.
                if scheduler is None and not ledger.campaign_known(chosen.id, campaign):
                    replay = PlanReplay()
                plan = build_plan(
                    loaded,
                    target_id=chosen.id,
                    scenario=change,
                    lookup=sent_lookup(ledger, chosen, campaign),
                    sink=replay.add if replay is not None else None,
                    now=now,
                    show_pii=show_pii,
                )
                stats = plan.stats
                if replay is not None and (stats.already_sent or stats.in_doubt or not replay.finish(stats.rows)):
                    replay.close()
                    replay = None
                latency = measured_latency(ledger, chosen)  # the duration estimate (issue 14)
                text = planview.to_text(plan, target_line="", show_pii=show_pii, latency=latency).lstrip("\n")
                click.echo(text, nl=False)
                to_send, skipped = plan.stats.to_send, dict(plan.stats.skipped)

                def unscheduled() -> Iterator[PlannedMessage | Skip]:
                    if replay is not None:
                        yield from replay
                        return
                    stream = MessageStream(loaded, chosen.id)
                    try:
                        yield from stream
                    finally:
                        stream.close()
            else:
                footer = saved.footer
                to_send, skipped = int(footer["messages"]), dict(footer["skipped"])
                click.echo(f"Applying the saved plan {source}: {to_send} message(s), made for {saved.target_id}.")
                unscheduled = saved.messages  # with send.localHours its messages carry their zones

            def planned() -> Iterator[PlannedMessage | Skip]:
                """The messages as the plan shown (scheduled for the instant apply started)."""
                return unscheduled() if scheduler is None else scheduled(unscheduled(), scheduler)

            def messages() -> Iterator[PlannedMessage | Skip]:
                """The messages to send, each scheduled for the instant it is claimed."""
                if scheduler is None:
                    return unscheduled()
                return scheduled(unscheduled(), LiveSchedule(loaded, scheduler, lambda: datetime.now(UTC)))

            digest = plan.digest if saved is None else saved.digest()
            assert digest is not None
            check_digest(campaign, digest, (expected or {}).get(campaign), require_digest)
            _confirm(conn, auto_approve, saved is not None)
            command_line = "campaigner apply " + str(source)
            with ledger.lock(chosen.id, campaign, command=command_line):
                if change.action != "none":
                    # Looked up before the lock: an apply that held it meanwhile may have created or
                    # updated the scenario already; look again so that it is not created twice.
                    change = lookup_scenario(conn, loaded, ledger)
                if pinned is not None and input_hashes(loaded) != pinned:
                    raise CampaignerError(
                        f"error: {campaign}: an input file changed while apply checked the reviewed digest; "
                        "nothing was sent (run apply again: the digest check will tell what differs)"
                    )
                try:
                    counts = asyncio.run(
                        _apply(conn, ledger, loaded, change, bulk, messages, to_send, wait_seconds, rollout)
                    )
                except KeyboardInterrupt:
                    for line in interrupted_lines(ledger.counts(chosen.id, campaign)["messages"], source):
                        click.echo(line, err=True)
                    raise click.exceptions.Exit(130) from None
                from campaigner.sending.canary import canary_summary
                from campaigner.sending.reports import plan_tally, write_summary

                # The window closed (send.notAfter, or a local window that closed while apply ran and opens
                # only after notAfter), stopWhen stopped, or the canary held back the rest, before every
                # message was claimed: those the ledger never saw are counted from the plan, as not sent.
                held = counts.window_closed or counts.stopped or (rollout.canary and not rollout.canary.go)
                tally = held or scheduler is not None
                never_sent = plan_tally(ledger, chosen, campaign, planned()).never_sent if tally else 0
                estimate = plan.stats.cost_campaign if saved is None else None
                canary = canary_summary(ledger, chosen.id, campaign, loaded.spec.send.canary)
                written = write_summary(
                    ledger,
                    loaded,
                    chosen,
                    bulk,
                    skipped=skipped,
                    never_sent=never_sent,
                    canary=canary,
                    estimate=estimate,
                )
    finally:
        if replay is not None:
            replay.close()
        ledger.close()
    _print_outcome(counts, written.directory, written.summary)
    if counts.window_closed and written.summary.not_sent:
        click.echo(
            f"{written.summary.not_sent} message(s) not sent: the send window closed at "
            f"{loaded.spec.send.notAfter} (send.notAfter)."
        )
    elif scheduler is not None and written.summary.not_sent:
        click.echo(
            f"{written.summary.not_sent} message(s) not sent: their local window (send.localHours) closed while "
            "apply ran and opens again only after send.notAfter."
        )
    if counts.stopped:
        click.echo(
            f"Sending stopped: {counts.stopped}; {written.summary.not_sent} message(s) not sent. "
            "Run apply --resume-stopped to continue."
        )
    if rollout.canary is not None and not rollout.canary.go:
        click.echo(_canary_line(rollout.canary))
        raise click.exceptions.Exit(1)
    rec = written.summary.recipients
    if rec.get("rejected", 0) or rec.get("unknown", 0) or written.summary.not_sent:
        raise click.exceptions.Exit(1)


@dataclass
class Rollout:
    """The canary and stop decisions an apply was given, and what its canary decided."""

    decision: Literal["accept", "retry"] | None = None
    resume_stopped: bool = False
    canary: CanaryOutcome | None = None


def _canary_line(outcome: CanaryOutcome) -> str:
    if outcome.state == "sending":
        return f"Canary not decided: {outcome.reason}; run apply again to settle them."
    return (
        f"Canary {outcome.state}: {outcome.reason}; nothing more was sent. Run apply --accept-canary to send the "
        "rest anyway, or --retry-canary to wait for more reports."
    )


def interrupted_lines(states: dict[str, int], source: Path) -> list[str]:
    """What a person must know after Ctrl-C: what went out, what is in doubt, and that a re-run settles it."""
    doubt = states.get("sending", 0) + states.get("unknown", 0)
    lines = [
        f"Interrupted: {states.get('accepted', 0)} accepted, {states.get('rejected', 0)} rejected, "
        f"{doubt} in doubt (sent, no answer)."
    ]
    settle = (
        f"it settles the {doubt} in doubt through the provider's logs before sending anything else, " if doubt else ""
    )
    lines.append(f"Run `campaigner apply {source}` again: {settle}and sends no message twice.")
    return lines


async def _apply(
    conn: Connection,
    ledger: Ledger,
    loaded: LoadedCampaign,
    change: ScenarioChange,
    bulk: str,
    messages: Any,
    to_send: int,
    wait_seconds: float,
    rollout: Rollout,
) -> SendCounts:
    from campaigner.omni.client import OmniClient
    from campaigner.sending.apply import ensure_scenario, send_campaign
    from campaigner.sending.job import Job, merge
    from campaigner.sending.reports import collect_reports

    spec = loaded.spec
    progress = _progress()
    job: Job = Job(
        target=conn.target,
        campaign=spec.campaign,
        bulk_id=bulk,
        messages=messages,
        batch_size=spec.send.batchSize,
        rate=spec.send.rateLimit,
        concurrency=spec.send.concurrency,
        not_after=spec.send.notAfter,
    )
    target_id = conn.target.id
    stopped = ledger.stopped(target_id, spec.campaign)
    if stopped is not None:
        if not rollout.resume_stopped:
            raise CampaignerError(
                f"error: the last apply of {spec.campaign} was stopped ({stopped}); nothing more was sent. "
                "Review the summary, then run apply --resume-stopped to continue"
            )
        ledger.clear_stop(target_id, spec.campaign)
        progress.phase("Resuming the stopped send (--resume-stopped).")
    async with OmniClient(conn.config, max_connections=spec.send.concurrency) as client:
        key = await ensure_scenario(client, ledger, conn.target, change, progress)
        retry_rejected = True
        if spec.send.canary is not None:
            from campaigner.plan.canary import inputs_digest
            from campaigner.sending.canary import run_canary

            rollout.canary = outcome = await run_canary(
                client,
                ledger,
                job,
                key,
                progress,
                spec.send.canary,
                inputs_digest(loaded),
                to_send=to_send,
                decision=rollout.decision,
            )
            if not outcome.go:
                return outcome.counts
            retry_rejected = not outcome.sent_now  # the canary's rejections were just counted: keep them
            to_send = max(0, to_send - outcome.unsent_before)
        job = dataclasses.replace(job, stop_when=spec.send.stopWhen)
        in_doubt = ledger.count_in_doubt(conn.target.id, spec.campaign)
        if to_send or in_doubt or not ledger.campaign_known(conn.target.id, spec.campaign):
            progress.sending(to_send + in_doubt)  # those in doubt may go again once settled
            counts = await send_campaign(client, ledger, job, key, progress, retry_rejected=retry_rejected)
            if rollout.canary is not None:
                merge(counts, rollout.canary.counts)
        else:
            from campaigner.sending.job import SendCounts

            counts = SendCounts()
        await collect_reports(client, ledger, conn.target, spec.campaign, bulk, wait=wait_seconds, progress=progress)
    return counts


def _print_outcome(counts: SendCounts, directory: Path, summary: Any) -> None:
    from campaigner.summary.render import headline

    if counts.requests == 0 and counts.adopted == 0 and counts.resent == 0:
        click.echo("Nothing new was sent.")
    else:
        parts = [f"{counts.accepted} accepted", f"{counts.rejected} rejected"]
        if counts.adopted:
            parts.append(f"{counts.adopted} adopted from the provider's logs")
        if counts.resent:
            parts.append(f"{counts.resent} sent again after settling")
        if counts.unknown:
            parts.append(f"{counts.unknown} still in doubt (run apply again)")
        click.echo(f"Sent in {counts.requests} request(s): " + ", ".join(parts) + ".")
    for reason, n in sorted(counts.rejections.items(), key=lambda kv: -kv[1])[:5]:
        click.echo(for_terminal(f"  rejected {n}: {reason}"))
    click.echo(for_terminal(headline(summary)))
    if summary.estimate:
        from campaigner.summary.render import estimate_line

        click.echo(for_terminal(estimate_line(summary, markdown=False)))
    click.echo(f"Summary: {directory}/summary.md, {directory}/report.html, {directory}/messages.csv")
