using System.Diagnostics;
using Dedup.Worker.Contracts;
using Dedup.Worker.Faults;
using Dedup.Worker.Ledger;
using MassTransit;
using MassTransit.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Dedup.Worker.Faults
{
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
}

namespace Dedup.Worker.Hosting
{
    /// <summary>Registration of the test-only fault hooks.</summary>
    internal static class FaultInjectionExtensions
    {
        /// <summary>
        /// Reads <c>Worker:Faults</c>; when any fault is configured, wraps the ledger and adds the outcome probe. Call after
        /// <c>AddDedupWorker</c>. A wrong value stops the process with a message naming the setting.
        /// </summary>
        public static HostApplicationBuilder AddWorkerFaults(this HostApplicationBuilder builder)
        {
            var faults = builder.Configuration.GetSection(FaultSettings.Section).Get<FaultSettings>() ?? new FaultSettings();
            var failures = faults.Validate().ToList();
            if (failures.Count > 0)
                throw new InvalidOperationException(string.Join(" ", failures));
            if (!faults.Enabled)
                return builder;

            FaultInjection.Mark($"test-only faults on: Kill={faults.Kill} PaymentId={faults.PaymentId} PauseAfterSideEffect={faults.PauseAfterSideEffect} PauseBeforeComplete={faults.PauseBeforeComplete} LogOutcomes={faults.LogOutcomes}");
            var services = builder.Services;
            services.AddSingleton(faults);
            var ledger = services.LastOrDefault(d => d.ServiceType == typeof(ILedger))
                         ?? throw new InvalidOperationException("AddWorkerFaults must come after the ledger is registered.");
            services.Remove(ledger);
            services.AddSingleton<ILedger>(sp => new FaultInjectingLedger(Inner(sp, ledger), faults));
            if (faults.LogOutcomes)
                services.AddHostedService<OutcomeProbe>();
            return builder;
        }

        /// <summary>
        /// Adds the kill-after-complete filter in front of every receive endpoint's consume pipe (when configured). It is a
        /// pre-pipe filter added before <c>UseDedup</c>, so it wraps dedup's commit filter: it runs after the completion.
        /// </summary>
        public static void UseWorkerFaults(this IBusFactoryConfigurator cfg, IRegistrationContext context)
        {
            if (context.GetService<FaultSettings>() is { Kill: KillPoint.AfterComplete } faults)
                cfg.AddPrePipeSpecification(new FilterPipeSpecification<ConsumeContext>(new KillAfterCompleteFilter(faults)));
        }

        /// <summary>
        /// Adds the pause-before-complete filter (when configured). Call it after <c>UseDedup</c>: a pre-pipe filter added
        /// then runs inside dedup's commit filter, so it pauses after the consumers returned and before the completion.
        /// </summary>
        public static void UseWorkerFaultsInsideDedup(this IBusFactoryConfigurator cfg, IRegistrationContext context)
        {
            if (context.GetService<FaultSettings>() is { PauseBeforeComplete.Ticks: > 0 } faults)
                cfg.AddPrePipeSpecification(new FilterPipeSpecification<ConsumeContext>(new PauseBeforeCompleteFilter(faults)));
        }

        static ILedger Inner(IServiceProvider provider, ServiceDescriptor descriptor) =>
            descriptor.ImplementationInstance as ILedger
            ?? (ILedger?)descriptor.ImplementationFactory?.Invoke(provider)
            ?? (ILedger)ActivatorUtilities.CreateInstance(provider, descriptor.ImplementationType!);
    }
}
