using Dedup.Worker.Hosting;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Reliability.Host;

/// <summary>Puts the configured fault filters into the worker's consume pipe, each on the side of dedup its fault needs.</summary>
internal sealed class FaultPipeExtension(FaultSettings faults) : IWorkerPipeExtension
{
    /// <summary>Kill after complete: wrapping dedup's commit filter, it runs once the claim is completed, before the ack.</summary>
    public void ConfigureAroundDedup(IBusFactoryConfigurator bus)
    {
        if (faults.Kill == KillPoint.AfterComplete)
            bus.AddPrePipeSpecification(new FilterPipeSpecification<ConsumeContext>(new KillAfterCompleteFilter(faults)));
    }

    /// <summary>Pause before complete: inside dedup's commit filter, it runs after the consumers returned, before the completion.</summary>
    public void ConfigureInsideDedup(IBusFactoryConfigurator bus)
    {
        if (faults.PauseBeforeComplete > TimeSpan.Zero)
            bus.AddPrePipeSpecification(new FilterPipeSpecification<ConsumeContext>(new PauseBeforeCompleteFilter(faults)));
    }
}
