namespace Dedup.Worker.Traffic;

/// <summary>What a planned message is.</summary>
internal enum MessageKind
{
    /// <summary><c>ChargePayment</c> to <c>payments</c> (MassTransit envelope, keyed by MessageId).</summary>
    Payment,

    /// <summary><c>ExternalPayment</c> to <c>external-payments</c> (plain JSON, keyed by the AMQP message_id).</summary>
    External,

    /// <summary><c>GetQuote</c> to <c>quotes</c> (a request; the reply is counted).</summary>
    Quote,
}

/// <summary>One message to send. Duplicates are exact copies of their original (same ids, same payload); a conflicting copy keeps the ids and changes the amount.</summary>
internal sealed record PlannedMessage(
    MessageKind Kind,
    string Id,
    Guid MessageId,
    string AmqpMessageId,
    Guid RequestId,
    decimal Amount,
    bool Duplicate,
    bool Concurrent,
    bool Conflict);

/// <summary>
/// The traffic the demo and the traffic command send: unique payments (some as plain JSON), quote requests, a share of
/// duplicates (some sent at the same moment as their original, the others a little later) and a few conflicting copies
/// sent last.
/// </summary>
internal sealed class TrafficPlan
{
    TrafficPlan(List<List<PlannedMessage>> batches, List<PlannedMessage> conflicts)
    {
        Batches = batches;
        Conflicts = conflicts;
        var originals = batches.SelectMany(b => b).Where(m => !m.Duplicate).ToList();
        PaymentIds = [.. originals.Where(m => m.Kind != MessageKind.Quote).Select(m => m.Id)];
        QuoteIds = [.. originals.Where(m => m.Kind == MessageKind.Quote).Select(m => m.Id)];
        var all = batches.SelectMany(b => b).ToList();
        Duplicates = all.Count(m => m.Duplicate);
        ConcurrentDuplicates = all.Count(m => m.Duplicate && m.Concurrent);
        DuplicateRequests = all.Count(m => m.Duplicate && m.Kind == MessageKind.Quote);
        Messages = all.Count + conflicts.Count;
    }

    /// <summary>Groups of messages sent at the same moment, in order.</summary>
    public IReadOnlyList<IReadOnlyList<PlannedMessage>> Batches { get; }

    /// <summary>Conflicting copies, sent after everything else has been processed.</summary>
    public IReadOnlyList<PlannedMessage> Conflicts { get; }

    /// <summary>Every unique payment id (both queues).</summary>
    public IReadOnlyList<string> PaymentIds { get; }

    /// <summary>Every unique quote id.</summary>
    public IReadOnlyList<string> QuoteIds { get; }

    /// <summary>Unique messages.</summary>
    public int Unique => PaymentIds.Count + QuoteIds.Count;

    /// <summary>Exact copies sent.</summary>
    public int Duplicates { get; }

    /// <summary>Copies sent at the same moment as their original.</summary>
    public int ConcurrentDuplicates { get; }

    /// <summary>Copies of requests.</summary>
    public int DuplicateRequests { get; }

    /// <summary>Everything sent: originals, copies and conflicting copies.</summary>
    public int Messages { get; }

    public static TrafficPlan Create(int payments, int requests, double externalShare, double duplicateShare, double concurrentShare, int conflicts, Random random)
    {
        var run = Convert.ToHexStringLower(BitConverter.GetBytes(random.NextInt64()))[..8];
        var originals = new List<PlannedMessage>(payments + requests);
        for (var i = 0; i < payments; i++)
        {
            var amount = Math.Round((decimal)(random.NextDouble() * 500) + 1, 2);
            if (random.NextDouble() < externalShare)
            {
                // Half the plain-JSON producers use Guid message ids, half their own strings.
                var messageId = i % 2 == 0 ? Guid.NewGuid().ToString() : $"inv-{run}-{i}";
                originals.Add(new PlannedMessage(MessageKind.External, $"ext-{run}-{i}", Guid.Empty, messageId, Guid.Empty, amount, false, false, false));
            }
            else
            {
                originals.Add(new PlannedMessage(MessageKind.Payment, Guid.NewGuid().ToString(), Guid.NewGuid(), string.Empty, Guid.Empty, amount, false, false, false));
            }
        }

        for (var i = 0; i < requests; i++)
            originals.Add(new PlannedMessage(MessageKind.Quote, $"q-{run}-{i}", Guid.NewGuid(), string.Empty, Guid.NewGuid(), random.Next(1, 100), false, false, false));

        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(originals));

        var batches = originals.Select(m => new List<PlannedMessage> { m }).ToList();
        var late = new List<(int Position, PlannedMessage Copy)>();
        for (var i = 0; i < batches.Count; i++)
        {
            if (random.NextDouble() >= duplicateShare)
                continue;

            var original = batches[i][0];
            if (random.NextDouble() < concurrentShare)
                batches[i].Add(original with { Duplicate = true, Concurrent = true });
            else
                late.Add((Math.Min(batches.Count - 1, i + random.Next(1, 200)), original with { Duplicate = true }));
        }

        foreach (var (position, copy) in late)
            batches[position].Add(copy);

        var candidates = originals.Where(m => m.Kind == MessageKind.Payment).ToList();
        var conflicting = new List<PlannedMessage>();
        for (var i = 0; i < Math.Min(conflicts, candidates.Count); i++)
        {
            var original = candidates[random.Next(candidates.Count)];
            conflicting.Add(original with { Amount = original.Amount + 1000, Conflict = true });
        }

        return new TrafficPlan(batches, conflicting.DistinctBy(m => m.MessageId).ToList());
    }
}
