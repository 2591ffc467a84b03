using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dedup.Operations;

namespace Dedup.Worker.Operator;

/// <summary>What <c>inspect</c> and <c>forget</c> print: aligned lines for a person, or JSON (<c>--json</c>) for a script.</summary>
internal static class RecordText
{
    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Human(DedupRecord record)
    {
        var text = new Lines();
        text.Add("record", record.Key);
        text.Add("state", State(record));
        if (record.State == DedupRecordState.Absent)
            return text.ToString();

        text.Add("epoch", record.ClaimedAt is { } claimed ? $"{record.Epoch}, claimed {Time(claimed)}" : Number(record.Epoch));
        if (record.Owner is { } owner)
            text.Add("owner", owner);
        if (record.PreviousEpoch > 0)
            text.Add("follows", $"epoch {record.PreviousEpoch} (a takeover, or a claim after a release or a forget: the takeover check was asked)");
        if (record.HasWaiters)
            text.Add("waiters", "a duplicate waits for this claim to complete or be released");
        if (record.CompletedAt is { } completed)
            text.Add("completed", $"{Time(completed)} (from the TTL and Dedup:Retention)");
        if (record.State == DedupRecordState.Completed)
            text.Add("result", Result(record));
        if (record.Fingerprint is { } fingerprint)
            text.Add("fingerprint", fingerprint);
        if (record.TimeToLive is { } ttl)
            text.Add("ttl", $"{Duration(ttl)} (expires {Time(record.ReadAt + ttl)})");
        return text.ToString();
    }

    public static string Json(DedupRecord record) => JsonSerializer.Serialize(new
    {
        key = record.Key,
        state = record.State,
        epoch = record.Epoch,
        claimedAt = record.ClaimedAt,
        owner = record.Owner,
        leaseRemainingMs = Milliseconds(record.LeaseRemaining),
        leaseExpired = record.State == DedupRecordState.InProgress ? record.LeaseExpired : (bool?)null,
        previousEpoch = record.PreviousEpoch > 0 ? record.PreviousEpoch : (long?)null,
        hasWaiters = record.HasWaiters,
        completedAt = record.CompletedAt,
        resultBytes = record.State == DedupRecordState.Completed ? record.Result.Length : (int?)null,
        result = record.ResultSummary,
        fingerprint = record.Fingerprint,
        ttlMs = Milliseconds(record.TimeToLive),
        readAt = record.ReadAt,
    }, JsonOptions);

    public static string Human(string key, DedupForgetResult result, TimeSpan retention) => result.Outcome switch
    {
        DedupForgetOutcome.Forgotten =>
            $"forgotten: {key} ({Name(result.PreviousState)}, epoch {result.Epoch}).\n"
            + $"A tombstone keeps epoch {result.Epoch} for {Duration(retention)} (Dedup:Retention): the next copy of the message is claimed above it, and a registered takeover check is asked whether the forgotten owner's work happened.",
        DedupForgetOutcome.NotFound => $"nothing to forget: no record at {key} (never claimed, or its retention ran out).",
        DedupForgetOutcome.AlreadyForgotten => $"already forgotten: {key} is a tombstone at epoch {result.Epoch}.",
        _ => $"refused: an owner holds a live lease on {key} (epoch {result.Epoch}, {Duration(result.LeaseRemaining)} left); its work may be running.\n"
             + "Wait for it to complete, or forget with --force to fence it off: its renewal and completion are then refused, and the next copy asks the takeover check.",
    };

    public static string Json(string key, DedupForgetResult result) => JsonSerializer.Serialize(new
    {
        key,
        outcome = result.Outcome,
        epoch = result.Epoch,
        previousState = result.PreviousState,
        leaseRemainingMs = result.Outcome == DedupForgetOutcome.LeaseHeld ? (long)result.LeaseRemaining.TotalMilliseconds : (long?)null,
    }, JsonOptions);

    static string State(DedupRecord record) => record.State switch
    {
        DedupRecordState.Absent => "absent: no record (never claimed, or its retention ran out)",
        DedupRecordState.InProgress when record.LeaseExpired =>
            $"in progress, lease ran out {Duration(-record.LeaseRemaining!.Value)} ago: its owner crashed or paused; the next copy takes it over",
        DedupRecordState.InProgress => $"in progress, lease live: {Duration(record.LeaseRemaining!.Value)} left",
        DedupRecordState.Completed when record.ResultSummary?.Fault is not null => "completed with a recorded fault: duplicates get the Fault<T> back",
        DedupRecordState.Completed => "completed: duplicates are skipped",
        DedupRecordState.Released => "released after a failure: the next copy claims it and asks the takeover check",
        _ => "forgotten: a tombstone keeping the epoch; the next copy claims it above it",
    };

    static string Name(DedupRecordState state) => state switch
    {
        DedupRecordState.InProgress => "in progress",
        _ => state.ToString().ToLowerInvariant(),
    };

    static string Result(DedupRecord record)
    {
        var size = $"{Number(record.Result.Length)} bytes";
        return record.ResultSummary switch
        {
            null when record.Result.IsEmpty => "empty: the consumer sent no reply",
            null => $"{size} (not a result record of the filter)",
            { Fault: { } fault } => $"{size}, fault: {fault}",
            { ReplyTooLarge: true } => $"{size}: the replies were larger than Dedup:MaxReplyBytes, not stored",
            var summary => $"{size}: {summary.ReplyTypes.Count} {(summary.ReplyTypes.Count == 1 ? "reply" : "replies")}"
                           + (summary.ReplyTypes.Count > 0 ? $" ({string.Join(", ", summary.ReplyTypes)})" : string.Empty)
                           + (summary.Recovered ? "; recovered: a takeover check found a previous owner's work applied" : string.Empty),
        };
    }

    static long? Milliseconds(TimeSpan? value) => value is { } time ? (long)Math.Round(time.TotalMilliseconds) : null;

    internal static string Number(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Time(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    internal static string Duration(TimeSpan value) => value < TimeSpan.FromMinutes(1)
        ? value.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
        : value.ToString(value < TimeSpan.FromDays(1) ? @"hh\:mm\:ss" : @"d\.hh\:mm\:ss", CultureInfo.InvariantCulture);

    /// <summary>"name   value" lines, the values aligned.</summary>
    internal sealed class Lines
    {
        readonly List<(string Name, string Value)> _lines = [];

        public void Add(string name, string value) => _lines.Add((name, value));

        public override string ToString()
        {
            var width = _lines.Max(l => l.Name.Length) + 2;
            var text = new StringBuilder();
            foreach (var (name, value) in _lines)
                text.Append(name.PadRight(width)).AppendLine(value);
            return text.ToString().TrimEnd();
        }
    }
}
