using System.Diagnostics;

namespace Dedup.Worker.Traffic;

/// <summary>
/// Sends a plan's batches with bounded concurrency and an optional rate limit; each batch's messages go out at the
/// same moment (that is what makes a duplicate concurrent).
/// </summary>
internal sealed class TrafficDriver
{
    readonly ITrafficSender _sender;
    readonly int _concurrency;
    readonly double _rate;
    int _sent;

    public TrafficDriver(ITrafficSender sender, int concurrency, double rate)
    {
        _sender = sender;
        _concurrency = concurrency;
        _rate = rate;
    }

    /// <summary>Messages handed to the transport so far (MassTransit: sent; RabbitMQ: confirmed by the broker).</summary>
    public int Sent => Volatile.Read(ref _sent);

    public async Task SendAsync(IReadOnlyList<IReadOnlyList<PlannedMessage>> batches, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var scheduled = 0;
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = _concurrency, CancellationToken = cancellationToken }, async (batch, ct) =>
        {
            if (_rate > 0)
            {
                // Pace by the batch's first slot: message n leaves no earlier than n / rate seconds after the start.
                var slot = Interlocked.Add(ref scheduled, batch.Count) - batch.Count;
                var due = TimeSpan.FromSeconds(slot / _rate) - Stopwatch.GetElapsedTime(started);
                if (due > TimeSpan.Zero)
                    await Task.Delay(due, ct);
            }

            await Task.WhenAll(batch.Select(async message =>
            {
                await _sender.SendAsync(message, ct);
                Interlocked.Increment(ref _sent);
            }));
        });
    }
}
