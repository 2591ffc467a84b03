using MassTransit;

namespace Dedup.Worker.Hosting;

/// <summary>
/// Adds consume filters to every receive endpoint of the worker, at one of the two places a filter can stand relative to
/// dedup. Register an implementation in the worker's services (<c>services.AddSingleton&lt;IWorkerPipeExtension, ...&gt;()</c>,
/// before the host is built); the worker applies every registered one, in registration order, when it configures its bus
/// (on RabbitMQ and on the demo's in-memory transport). The worker registers none itself: this is where a host built on
/// <see cref="WorkerServiceCollectionExtensions.AddDedupWorker"/> (the reliability suite's tests/Dedup.Reliability.Host)
/// adds filters without the worker naming them.
/// </summary>
internal interface IWorkerPipeExtension
{
    /// <summary>
    /// Called before <c>UseDedup</c>: a pre-pipe filter added here wraps dedup's filters, so it runs before the claim and
    /// after the completion (the whole consume pipeline), before the message is acknowledged.
    /// </summary>
    void ConfigureAroundDedup(IBusFactoryConfigurator bus)
    {
    }

    /// <summary>
    /// Called right after <c>UseDedup</c>: a pre-pipe filter added here runs inside dedup's commit filter, so it runs after
    /// the claim and, once the consumers returned, before the completion.
    /// </summary>
    void ConfigureInsideDedup(IBusFactoryConfigurator bus)
    {
    }
}
