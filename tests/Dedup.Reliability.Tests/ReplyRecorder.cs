using System.Collections.Concurrent;
using System.Text.Json;
using RabbitMQ.Client;

namespace Dedup.Reliability.Tests;

/// <summary>
/// The replies a test requester received on its reply queue (MassTransit <c>QuoteIssued</c> envelopes): per RequestId,
/// the quote id and quote number of each reply, so a test can check that every copy of a request was answered, and
/// answered with the same quote.
/// </summary>
public sealed class ReplyRecorder(Uri address, IChannel channel) : IAsyncDisposable
{
    readonly ConcurrentDictionary<Guid, ConcurrentQueue<(string QuoteId, long QuoteNumber)>> _byRequest = new();
    int _total;

    /// <summary>The ResponseAddress that reaches this recorder.</summary>
    public Uri Address { get; } = address;

    public int Total => Volatile.Read(ref _total);

    public void Record(ReadOnlySpan<byte> body)
    {
        using var envelope = JsonDocument.Parse(body.ToArray());
        var root = envelope.RootElement;
        var requestId = Guid.Parse(root.GetProperty("requestId").GetString()!);
        var message = root.GetProperty("message");
        var reply = (message.GetProperty("quoteId").GetString()!, message.GetProperty("quoteNumber").GetInt64());
        _byRequest.GetOrAdd(requestId, _ => new()).Enqueue(reply);
        Interlocked.Increment(ref _total);
    }

    /// <summary>The replies to one request (a copy of a request may be answered more than once: an ack lost in a crash).</summary>
    public IReadOnlyList<(string QuoteId, long QuoteNumber)> RepliesTo(Guid requestId) =>
        _byRequest.TryGetValue(requestId, out var replies) ? [.. replies] : [];

    public async ValueTask DisposeAsync()
    {
        try
        {
            await channel.CloseAsync();
        }
        catch (Exception)
        {
            // the connection may be gone already
        }

        channel.Dispose();
    }
}
