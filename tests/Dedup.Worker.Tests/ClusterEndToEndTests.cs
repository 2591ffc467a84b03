using Dedup.Testing;
using Dedup.Worker.Contracts;
using Dedup.Worker.Tests.Support;
using MassTransit;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// Issue 11: the worker process on a local three-master Redis Cluster with its default settings (dedup store and
/// ledger on the cluster), a real RabbitMQ and a MassTransit producer: payments sent three times each run once, and a
/// request sent twice gets one quote. Before the ledger was made per slot, every payment failed with CROSSSLOT.
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class ClusterEndToEndTests(WorkerServers servers, RedisClusterFixture cluster) : IClassFixture<RedisClusterFixture>
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task WorkerOnARedisCluster_WithTheDefaultLedger_RunsEachPaymentOnce_AndAnswersARepeatedRequestWithOneQuote()
    {
        await using var scope = await servers.NewScopeAsync("cluster", cluster.Cluster.ConnectionString);
        scope.Environment["Worker__PaymentWorkTime"] = "00:00:00.020";
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(Startup);

        var bus = await scope.StartBusAsync();
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri("queue:payments"));
            var payments = Enumerable.Range(0, 40).Select(i => (Payment: new ChargePayment(Guid.NewGuid(), 5 + i, "EUR"), MessageId: Guid.NewGuid())).ToList();
            Task Send((ChargePayment Payment, Guid MessageId) p) => endpoint.Send(p.Payment, c => c.MessageId = p.MessageId);
            await Task.WhenAll(payments.SelectMany(p => new[] { Send(p), Send(p) }));
            await Task.WhenAll(payments.Select(Send));

            var client = bus.CreateRequestClient<GetQuote>(new Uri("queue:quotes"), RequestTimeout.After(s: 30));
            var (quoteId, requestId) = (Guid.NewGuid().ToString(), Guid.NewGuid());
            var first = await client.GetResponse<QuoteIssued>(new GetQuote(quoteId, "widget", 3), x => x.UseExecute(c => c.MessageId = requestId));
            var again = await client.GetResponse<QuoteIssued>(new GetQuote(quoteId, "widget", 3), x => x.UseExecute(c => c.MessageId = requestId));

            var ids = payments.Select(p => p.Payment.PaymentId.ToString()).ToList();
            var executions = await scope.SettledExecutionsAsync(ids, "payments", Settle);
            Assert.All(executions, n => Assert.Equal(1, n));
            Assert.Equal(first.Message.QuoteNumber, again.Message.QuoteNumber);
            Assert.Contains("cluster of 3 masters", worker.Output, StringComparison.Ordinal);
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
