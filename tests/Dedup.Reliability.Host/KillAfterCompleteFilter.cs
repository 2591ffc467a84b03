using MassTransit;

namespace Dedup.Reliability.Host;

/// <summary>
/// Test-only: the outermost consume filter. When the whole consume pipeline (consumer and dedup completion) returned
/// for the configured payment, the process dies before MassTransit acknowledges the message.
/// </summary>
internal sealed class KillAfterCompleteFilter(FaultSettings faults) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        await next.Send(context).ConfigureAwait(false);

        var id = FaultInjection.TargetOf(context);
        if (faults.Matches(id))
            FaultInjection.Die($"after the completion of {id}, before the ack");
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("fault-kill-after-complete");
}
