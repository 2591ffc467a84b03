namespace Dedup.Worker.Settings;

/// <summary>The type of the RabbitMQ queues the worker declares for its three endpoints: <c>Worker:QueueType</c>.</summary>
public enum WorkerQueueType
{
    /// <summary>Classic durable queues, as MassTransit declares them by default. No delivery limit.</summary>
    Classic,

    /// <summary>
    /// Quorum queues (replicated by Raft on up to three nodes of a cluster), with <c>x-delivery-limit</c>
    /// (<see cref="WorkerSettings.DeliveryLimit"/>) and a dead-letter route to the queue's <c>_error</c> queue.
    /// </summary>
    Quorum,
}
