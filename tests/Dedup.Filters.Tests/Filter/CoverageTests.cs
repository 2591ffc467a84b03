using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dedup.Filters.Tests.Filter;

/// <summary>The one line logged at start that names what dedup covers and what it does not (issue 9, item 9).</summary>
public sealed class CoverageTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    [Fact]
    public async Task BusStart_LogsOneLine_NamingCoveredAndUncoveredEndpointsAndMessageTypes()
    {
        var capture = new LogCapture();
        await using var bus = await StartAsync(
            o => o.Exclude<Heartbeat>(),
            x =>
            {
                x.AddSingleton<ILoggerProvider>(capture);
                x.AddSingleton<BatchLog>();
                x.AddConsumer<ChargeConsumer>();
                x.AddConsumer<ChargeBatchConsumer>(c => c.Options<BatchOptions>(o => o.SetMessageLimit(5)));
                x.AddSaga<RefundSaga>().InMemoryRepository();
                x.AddSagaStateMachine<PaymentStateMachine, PaymentState>().InMemoryRepository();
                x.AddConsumer<HeartbeatConsumer>();
                x.AddExecuteActivity<ReserveActivity, ReserveArguments>();
                x.AddConsumer<ReportJobConsumer>();
                x.SetInMemorySagaRepositoryProvider();
                x.AddJobSagaStateMachines();
            },
            (cfg, _) => cfg.ReceiveEndpoint("audit-log", e => e.Handler<ChargePayment>(_ => Task.CompletedTask)),
            dedupFirst: true);

        var line = Assert.Single(capture.Entries, e => e.EventId.Id == 40);
        Assert.Equal(LogLevel.Information, line.Level);
        var parts = line.Message.Split("; not covered: ");
        Assert.Equal(2, parts.Length);
        var (covered, notCovered) = (parts[0], parts[1]);
        Assert.StartsWith("Dedup covers ", covered, StringComparison.Ordinal);
        Assert.Contains("ChargePayment → ChargeConsumer", covered, StringComparison.Ordinal);
        Assert.Contains("ChargePayment → ChargeBatchConsumer (batch)", covered, StringComparison.Ordinal);
        Assert.Contains("RefundRequested → RefundSaga (saga)", covered, StringComparison.Ordinal);
        Assert.Contains("PaymentCaptured → PaymentState (saga)", covered, StringComparison.Ordinal);
        Assert.Contains("Heartbeat → HeartbeatConsumer (excluded)", notCovered, StringComparison.Ordinal);
        Assert.Contains("audit-log: ChargePayment → handler", notCovered, StringComparison.Ordinal);
        Assert.Contains("RoutingSlip → ReserveActivity (activity)", notCovered, StringComparison.Ordinal);
        Assert.Contains("RunReport → ReportJobConsumer (job consumer)", notCovered, StringComparison.Ordinal);
        Assert.DoesNotContain("ReportJobConsumer", covered, StringComparison.Ordinal);
    }
}
