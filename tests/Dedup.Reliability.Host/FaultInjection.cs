using System.Diagnostics;
using Dedup.Worker.Contracts;
using MassTransit;

namespace Dedup.Reliability.Host;

/// <summary>Test-only fault injection (section <c>Worker:Faults</c>); nothing is registered unless it is configured.</summary>
internal static class FaultInjection
{
    /// <summary>Kills this process at once (SIGKILL): no finally blocks, no release, no ack.</summary>
    public static void Die(string where)
    {
        Mark($"killing process {Environment.ProcessId} {where}");
        Process.GetCurrentProcess().Kill();
        Thread.Sleep(Timeout.Infinite);
    }

    /// <summary>The payment id or quote id a message is about (what <see cref="FaultSettings.PaymentId"/> names).</summary>
    public static string? TargetOf(ConsumeContext context) =>
        context.TryGetMessage<ChargePayment>(out var charge) ? charge.Message.PaymentId.ToString()
        : context.TryGetMessage<ExternalPayment>(out var external) ? external.Message.PaymentId
        : context.TryGetMessage<GetQuote>(out var quote) ? quote.Message.QuoteId
        : null;

    /// <summary>Writes a marker line to standard output at once.</summary>
    public static void Mark(string text, string prefix = "fault-hook")
    {
        Console.Out.WriteLine($"{prefix}: {text}");
        Console.Out.Flush();
    }
}
