using MassTransit;

namespace Dedup.Filters.Tests.Filter;

public sealed record ReserveArguments(Guid PaymentId);

/// <summary>A routing-slip activity: dedup does not cover it, and says so at start.</summary>
public sealed class ReserveActivity : IExecuteActivity<ReserveArguments>
{
    public Task<ExecutionResult> Execute(ExecuteContext<ReserveArguments> context) => Task.FromResult(context.Completed());
}

public sealed record RunReport(Guid ReportId);

/// <summary>A job consumer: runs after its delivery was acknowledged, so dedup does not cover it.</summary>
public sealed class ReportJobConsumer : IJobConsumer<RunReport>
{
    public Task Run(JobContext<RunReport> context) => Task.CompletedTask;
}
