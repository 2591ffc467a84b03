using System.Globalization;
using Dedup.Diagnostics;
using Dedup.Worker.Cli;
using Dedup.Worker.Ledger;
using Dedup.Worker.Traffic;

namespace Dedup.Worker.Demo;

/// <summary>
/// What the demo measured. Executions come from the ledger (per payment and quote), skips and conflicts from the
/// library's <c>dedup.messages</c> counter, replies from what the requester received. Nothing is derived from the plan
/// except what was meant to be sent.
/// </summary>
internal sealed record DemoReport(
    int Sent,
    int Unique,
    long Executed,
    long Skipped,
    long Waited,
    int Replayed,
    long Conflicts,
    int Lost,
    int RanOnce,
    int RanTwiceOrMore,
    int NeverRan,
    int Unanswered,
    int Requests,
    int Settled,
    int Planned,
    int ConflictingCopies,
    int DuplicateRequests,
    TimeSpan Elapsed,
    bool Finished)
{
    /// <summary>Every unique message ran exactly once, every request was answered, nothing is missing.</summary>
    public bool Passed => Finished && RanOnce == Unique && RanTwiceOrMore == 0 && Lost == 0 && Settled == Planned && Sent == Planned;

    public static async Task<DemoReport> CreateAsync(TrafficPlan plan, ILedger ledger, OutcomeCounter outcomes, ReplyRecorder replies, DemoProbe probe, int sent, TimeSpan elapsed, bool finished)
    {
        var payments = await ledger.PaymentExecutionsAsync(plan.PaymentIds, CancellationToken.None);
        var quotes = await ledger.QuoteExecutionsAsync(plan.QuoteIds, CancellationToken.None);
        var counts = payments.Concat(quotes).ToList();
        var requestIds = plan.Batches.SelectMany(b => b).Where(m => m.Kind == MessageKind.Quote && !m.Duplicate).Select(m => m.RequestId).ToList();

        // Lost: a unique message that never ran, or a request that ran but whose requester never got an answer.
        var neverRan = counts.Count(c => c == 0);
        var unanswered = requestIds.Count(id => !replies.WasAnswered(id));
        var ranButUnanswered = quotes.Where((c, i) => c > 0 && !replies.WasAnswered(requestIds[i])).Count();

        return new DemoReport(
            Sent: sent,
            Unique: plan.Unique,
            Executed: counts.Sum(),
            Skipped: DemoCommand.Skipped(outcomes),
            Waited: outcomes[DedupOutcomes.InFlightWaited],
            Replayed: replies.Replayed,
            Conflicts: outcomes[DedupOutcomes.Conflict],
            Lost: neverRan + ranButUnanswered,
            RanOnce: counts.Count(c => c == 1),
            RanTwiceOrMore: counts.Count(c => c > 1),
            NeverRan: neverRan,
            Unanswered: unanswered,
            Requests: requestIds.Count,
            Settled: probe.Settled,
            Planned: plan.Messages,
            ConflictingCopies: plan.Conflicts.Count,
            DuplicateRequests: plan.DuplicateRequests,
            Elapsed: elapsed,
            Finished: finished);
    }

    /// <summary>The table, the verdict and, last, the summary line that scripts and tests parse.</summary>
    public void Write(RunConsole console)
    {
        var rate = Elapsed.TotalSeconds > 0 ? Settled / Elapsed.TotalSeconds : 0;
        ResultRow[] rows =
        [
            Row("sent", Sent, $"messages sent ({Planned} planned: originals, exact copies, {ConflictingCopies} conflicting copies)"),
            Row("unique", Unique, "distinct payments and quote requests"),
            Row("executed", Executed, "consumer executions, counted in the ledger"),
            Row("skipped", Skipped, $"duplicates acknowledged without running the consumer ({Waited} waited for the copy in flight)"),
            Row("replayed", Replayed, $"of {DuplicateRequests} duplicate requests, answered with a reply (the consumer did not run again)"),
            Row("conflicts", Conflicts, "same MessageId with another payload: rejected, not run"),
            Row("lost", Lost, "unique messages that never ran, or requests that ran but got no reply"),
            Row("ran once", RanOnce, $"of {Unique} unique messages ({RanTwiceOrMore} ran more than once, {NeverRan} never)"),
            Row("answered", Requests - Unanswered, $"of {Requests} requests"),
            Row("processed", Settled, $"deliveries finished by the consumers' queues, {rate:0} msg/s over {Elapsed.TotalSeconds:0.0} s"),
        ];

        console.WriteLine();
        if (console.Terminal is not null)
        {
            console.WriteTable(rows);
        }
        else
        {
            console.WriteLine("  what                 count  meaning");
            console.WriteLine("  -------------------  -----  ------------------------------------------------------------");
            foreach (var row in rows)
                console.WriteLine($"  {row.What,-19}  {row.Count,5}  {row.Meaning}");
            console.WriteLine();
        }

        if (!Finished)
            console.WriteVerdict(false, "FAILED: the demo did not finish before its timeout (--timeout).");
        else if (!Passed)
            console.WriteVerdict(false, "FAILED: a unique message did not run exactly once, or something was lost.");
        else
            console.WriteVerdict(true, "OK: every unique message ran exactly once; every duplicate was skipped; nothing was lost.");
        console.WriteLine($"summary: sent={Sent} unique={Unique} executed={Executed} skipped={Skipped} replayed={Replayed} conflicts={Conflicts} lost={Lost}");

        static ResultRow Row(string what, long count, string meaning) => new(what, count.ToString(CultureInfo.InvariantCulture), meaning);
    }
}
