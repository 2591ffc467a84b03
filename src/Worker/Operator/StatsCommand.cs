using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Dedup.Operations;
using Dedup.Worker.Hosting;

namespace Dedup.Worker.Operator;

/// <summary>
/// <c>stats</c>: the records by state, sampled with <c>SCAN</c> on every master; their size (<c>MEMORY USAGE</c>); and the
/// memory the retention window will hold at the current rate of new records (from the records' epochs).
/// </summary>
internal static class StatsCommand
{
    public static Command Create()
    {
        var sample = new Option<int>("--sample")
        {
            Description = "Keys scanned per master at most (records or not); the counts are scaled up when a scan stops before the end.",
            DefaultValueFactory = _ => DedupRecords.DefaultSample,
        };
        sample.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
                result.AddError("--sample must be at least 1.");
        });
        var window = new Option<TimeSpan>("--window")
        {
            Description = "The rate is measured over the records claimed within this window (hh:mm:ss; capped at Dedup:Retention).",
            DefaultValueFactory = _ => TimeSpan.FromHours(1),
        };
        window.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<TimeSpan>() <= TimeSpan.Zero)
                result.AddError("--window must be longer than zero, e.g. 00:10:00.");
        });
        var json = new Option<bool>("--json") { Description = "Print the statistics as JSON." };
        var command = new Command("stats", "Count the dedup records by state on every Redis master (SCAN), measure them (MEMORY USAGE) and project the memory of the retention window at the current rate.")
        {
            sample,
            window,
            json,
        };
        OperatorSession.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var stats = await session.Records.StatsAsync(parse.GetValue(sample), parse.GetValue(window), cancellationToken);
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(stats, RecordText.JsonOptions) : Human(stats, parse.GetValue(sample)));
            return stats.Servers.Any(s => s.Error is not null) ? ExitCodes.DependencyUnavailable : ExitCodes.Ok;
        });
        return command.AcceptingSettings();
    }

    static string Human(DedupStats stats, int sample)
    {
        var servers = stats.Servers;
        var lines = new List<string>
        {
            stats.IsCluster ? $"Redis Cluster, {servers.Count} masters; SCAN of up to {RecordText.Number(sample)} keys on each" : $"Redis {servers[0].Server}; SCAN of up to {RecordText.Number(sample)} keys",
            string.Empty,
            $"{"server",-22}{"keys",12}{"scanned",12}{"records",12}{"bytes/record",14}",
        };
        foreach (var server in servers)
        {
            lines.Add(server.Error is { } error
                ? $"{server.Server,-22}did not answer: {error}"
                : $"{server.Server,-22}{RecordText.Number(server.Keys),12}{RecordText.Number(server.KeysScanned),12}{RecordText.Number(server.Sampled.Total),12}{PerRecord(server.MemoryBytes, server.Sampled.Total),14}");
        }

        var records = stats.Records;
        lines.Add(string.Empty);
        lines.Add($"records          {RecordText.Number(records.Total)} ({(stats.Exact ? "counted: every key was scanned" : "estimated: each master's sample scaled by its keys over the keys scanned")})");
        lines.Add($"  in progress    {RecordText.Number(records.InProgress)}");
        lines.Add($"  lease expired  {RecordText.Number(records.LeaseExpired)}");
        lines.Add($"  completed      {RecordText.Number(records.Completed)}");
        lines.Add($"  released       {RecordText.Number(records.Released)}");
        lines.Add($"  forgotten      {RecordText.Number(records.Forgotten)}");
        var sampled = servers.Sum(s => s.Sampled.Total);
        lines.Add(stats.BytesPerRecord is { } bytes
            ? $"bytes/record     {RecordText.Number(bytes)} (MEMORY USAGE, the mean of {RecordText.Number(sampled)} sampled records)"
            : "bytes/record     - (no record sampled)");
        lines.Add($"rate             {stats.RecordsPerSecond.ToString("0.###", CultureInfo.InvariantCulture)} new records/s: the records claimed in the last {RecordText.Duration(stats.RateWindow)}, from their epochs (the server's clock at the claim)");
        lines.Add($"projection       {RecordText.Number(stats.ProjectedRecords)} records{(stats.ProjectedBytes is { } projected ? $", {Bytes(projected)}" : string.Empty)}: that rate for Dedup:Retention ({RecordText.Duration(stats.Retention)})");
        return string.Join('\n', lines);
    }

    static string PerRecord(long? memory, long records) => memory is { } bytes && records > 0 ? RecordText.Number((double)bytes / records) : "-";

    static string Bytes(double bytes) => bytes switch
    {
        < 1024 => $"{RecordText.Number(bytes)} B",
        < 1024 * 1024 => $"{(bytes / 1024).ToString("0.0", CultureInfo.InvariantCulture)} KiB",
        < 1024.0 * 1024 * 1024 => $"{(bytes / 1024 / 1024).ToString("0.0", CultureInfo.InvariantCulture)} MiB",
        _ => $"{(bytes / 1024 / 1024 / 1024).ToString("0.00", CultureInfo.InvariantCulture)} GiB",
    };
}
