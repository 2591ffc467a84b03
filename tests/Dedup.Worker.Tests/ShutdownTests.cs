using Dedup.Worker.Contracts;
using Dedup.Worker.Tests.Support;
using MassTransit;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>SIGTERM while consumers run: the worker stops within its stop timeout and no payment is lost or run twice.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class ShutdownTests(WorkerServers servers)
{
    [Theory]
    [InlineData("00:00:01", "00:00:10")] // consumers finish within the grace period
    [InlineData("00:00:30", "00:00:01")] // consumers are cancelled, their claims released, their messages redelivered
    public async Task Sigterm_WhileConsumersRun_NothingLostNothingRunTwice(string paymentWorkTime, string consumerStopTimeout)
    {
        await using var scope = await servers.NewScopeAsync("stop");
        // An unreleased claim would hold for a minute: longer than this test waits for the successor.
        scope.Environment["Dedup__Lease"] = "00:01:00";
        scope.Environment["Dedup__InFlightWait"] = "00:00:02";
        scope.Environment["Worker__ConcurrentMessageLimit"] = "4";
        scope.Environment["Worker__PrefetchCount"] = "4";
        scope.Environment["Worker__StopTimeout"] = "00:00:15";
        scope.Environment["Worker__ConsumerStopTimeout"] = consumerStopTimeout;
        scope.Environment["Worker__PaymentWorkTime"] = paymentWorkTime;

        var ids = new List<string>();
        await using (var stopping = scope.StartWorker())
        {
            await stopping.WaitStartedAsync(TimeSpan.FromSeconds(60));
            var bus = await scope.StartBusAsync();
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri("queue:payments"));
                for (var i = 0; i < 12; i++)
                {
                    var payment = new ChargePayment(Guid.NewGuid(), i, "EUR");
                    ids.Add(payment.PaymentId.ToString());
                    await endpoint.Send(payment, (SendContext<ChargePayment> c) => c.MessageId = payment.PaymentId);
                }
            }
            finally
            {
                await bus.StopAsync();
            }

            // Consumers are running once the worker holds unacknowledged messages.
            await Eventually.UntilAsync(async () => await UnackedAsync(scope) > 0, TimeSpan.FromSeconds(30), () => "a consumer running");
            stopping.Terminate();
            await stopping.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Assert.True(stopping.ExitCode == 0, stopping.Output);
            Assert.Contains("[1010] Stopped", stopping.Output, StringComparison.Ordinal);
        }

        scope.Environment["Worker__PaymentWorkTime"] = "00:00:00";
        await using var successor = scope.StartWorker();
        await successor.WaitStartedAsync(TimeSpan.FromSeconds(60));
        var executions = await scope.SettledExecutionsAsync(ids, "payments", TimeSpan.FromSeconds(40));
        Assert.All(executions, n => Assert.Equal(1, n));
    }

    static async Task<long> UnackedAsync(WorkerScope scope) => await scope.QueueMessagesAsync("payments") switch
    {
        < 0 => 0,
        _ => await scope.UnacknowledgedAsync("payments"),
    };
}
