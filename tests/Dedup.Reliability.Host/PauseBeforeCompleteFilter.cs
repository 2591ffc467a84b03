using MassTransit;

namespace Dedup.Reliability.Host;

/// <summary>
/// Test-only: a consume filter inside dedup's commit filter. Once the consumers of a matching message returned (the
/// side effect and any reply done), it waits <see cref="FaultSettings.PauseBeforeComplete"/> before the claim is
/// completed, so a kill in the meantime lands in the crash window the takeover check closes.
/// </summary>
internal sealed class PauseBeforeCompleteFilter(FaultSettings faults) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        await next.Send(context).ConfigureAwait(false);
        if (faults.Matches(FaultInjection.TargetOf(context)))
            await Task.Delay(faults.PauseBeforeComplete, CancellationToken.None).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("fault-pause-before-complete");
}
