using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Dedup.Worker.Tests.Support;
using RabbitMQ.Client;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// The start-up check of existing queues against what the worker declares, on a real RabbitMQ node, in this process. With
/// worker processes: a classic queue in the way (<see cref="QuorumQueueTests.QueueTypeQuorum_ClassicQueueOfTheSameNameExists_ExitsWithCode3NamingQueueAndSetting"/>),
/// and queues that agree: every worker start on queues an earlier one declared (<see cref="QuorumQueueTests"/>' dead-letter test).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class QueueArgumentsCheckTests(WorkerServers servers)
{
    static WorkerSettings Quorum(int? limit = null) => new() { QueueType = WorkerQueueType.Quorum, DeliveryLimit = limit };

    [Fact]
    public async Task Check_QuorumQueuesAndWorkerSetToClassic_SaysToSetQuorum()
    {
        await using var scope = await servers.NewScopeAsync("args-type");
        await using var connection = await scope.ConnectAmqpAsync();
        await DeclareAllAsync(connection, Quorum());

        var failure = await Assert.ThrowsAsync<StartupCheckException>(() =>
            QueueArgumentsCheck.CheckAsync(connection, Settings(scope), new WorkerSettings(), CancellationToken.None));

        Assert.Contains($"RabbitMQ queue 'payments' (virtual host '{scope.VirtualHost}') exists as a quorum queue, and Worker:QueueType is Classic", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Either set Worker:QueueType=Quorum", failure.Message, StringComparison.Ordinal);
        Assert.Contains("RabbitMQ queue 'quotes'", failure.Message, StringComparison.Ordinal); // every queue is named
    }

    [Fact]
    public async Task Check_OtherDeliveryLimit_NamesBothLimitsAndThePolicyWay()
    {
        await using var scope = await servers.NewScopeAsync("args-limit");
        await using var connection = await scope.ConnectAmqpAsync();
        await DeclareAllAsync(connection, Quorum(5));

        var failure = await Assert.ThrowsAsync<StartupCheckException>(() =>
            QueueArgumentsCheck.CheckAsync(connection, Settings(scope), Quorum(3), CancellationToken.None));

        Assert.Contains("RabbitMQ queue 'payments' (virtual host '" + scope.VirtualHost + "') exists with x-delivery-limit 5 (the worker declares 3)", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Set Worker:DeliveryLimit=5, or lower the limit with a policy", failure.Message, StringComparison.Ordinal);
    }

    static RabbitMqSettings Settings(WorkerScope scope) => new() { VirtualHost = scope.VirtualHost };

    static async Task DeclareAllAsync(IConnection connection, WorkerSettings worker)
    {
        await using var channel = await connection.CreateChannelAsync();
        foreach (var (queue, arguments) in WorkerQueues.All(worker))
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments.ToDictionary(a => a.Key, a => (object?)a.Value));
    }
}
