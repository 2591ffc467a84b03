using System.Diagnostics;

namespace Dedup.Worker.Traffic;

/// <summary>
/// Sends a plan's batches with bounded concurrency and an optional rate limit; each batch's messages go out at the
/// same moment (that is what makes a duplicate concurrent). A send that fails is tried again, as a producer that
/// retries does: with the same MessageId, so if the failed attempt reached the broker after all, the retry is a
/// duplicate that dedup skips.
/// </summary>
internal sealed class TrafficDriver
{
    /// <summary>
    /// Attempts per message, a second apart: long enough for a lost connection to come back and for a quorum queue whose
    /// leader went away to elect another (RabbitMQ 3.10 closes a publisher's channel with INTERNAL_ERROR meanwhile).
    /// </summary>
    const int SendAttempts = 30;

    static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    readonly ITrafficSender _sender;
    readonly int _concurrency;
    readonly double _rate;
    int _sent;
    int _retried;

    public TrafficDriver(ITrafficSender sender, int concurrency, double rate)
    {
        _sender = sender;
        _concurrency = concurrency;
        _rate = rate;
    }

    /// <summary>Messages handed to the transport so far (MassTransit: sent; RabbitMQ: confirmed by the broker).</summary>
    public int Sent => Volatile.Read(ref _sent);

    /// <summary>Sends tried again after a failed attempt.</summary>
    public int Retried => Volatile.Read(ref _retried);

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
                await SendWithRetriesAsync(message, ct);
                Interlocked.Increment(ref _sent);
            }));
        });
    }

    async Task SendWithRetriesAsync(PlannedMessage message, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _sender.SendAsync(message, cancellationToken);
                return;
            }
            catch (Exception) when (attempt < SendAttempts && !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _retried);
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }
    }
}
