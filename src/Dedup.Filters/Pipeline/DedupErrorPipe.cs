using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>Dedup's part in an endpoint's fault handling. It leaves the endpoint's error pipe alone.</summary>
internal static class DedupErrorPipe
{
    /// <summary>
    /// Transient dedup failures go back to the broker from the front of the consume pipe
    /// (<see cref="DedupRedeliveryFilter"/>), so they never reach the error pipe; every other fault meets the error
    /// pipe the user configured (<c>DiscardFaultedMessages</c>, <c>ConfigureError</c>, or MassTransit's default: a fault
    /// event and the <c>_error</c> queue). With <see cref="DedupOptions.RecordFaults"/> a fault the error pipe finished
    /// with is recorded from around the receive pipe (<see cref="DedupErrorFilter"/>). Neither depends on the order in
    /// which the endpoint was configured.
    /// </summary>
    public static void Configure(IReceiveEndpointConfigurator configurator, DedupPipeline pipeline)
    {
        configurator.AddPrePipeSpecification(new DedupRedeliverySpecification(pipeline));
        if (pipeline.Options.RecordFaults)
            configurator.ConfigureReceive(x => x.UseFilter(new DedupErrorFilter(pipeline)));
    }
}
