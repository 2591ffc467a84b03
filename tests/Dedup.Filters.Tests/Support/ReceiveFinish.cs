using MassTransit;

namespace Dedup.Filters.Tests;

/// <summary>
/// A receive observer hears of one delivery twice when the error pipe moved it to the error queue: ReceiveFault (from
/// the error pipe), then PostReceive (the transport acknowledged it). A receive that throws is heard once (ReceiveFault).
/// Observers that count finished deliveries count the first report only.
/// </summary>
public static class ReceiveFinish
{
    /// <summary>True the first time a delivery is reported finished, false for the second report of the same delivery.</summary>
    public static bool IsFirst(ReceiveContext context)
    {
        if (context.TryGetPayload<Finished>(out _))
            return false;
        context.GetOrAddPayload(() => new Finished());
        return true;
    }

    sealed class Finished;
}
