using Dedup.Worker.Hosting;
using Dedup.Worker.Ledger;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Dedup.Reliability.Host;

/// <summary>Registration of the test-only fault hooks.</summary>
internal static class FaultInjectionExtensions
{
    /// <summary>
    /// Reads <c>Worker:Faults</c>; when any fault is configured, wraps the ledger, adds the consume filters
    /// (<see cref="FaultPipeExtension"/>) and the outcome probe. Call after <c>AddDedupWorker</c>, whose ledger it wraps.
    /// A wrong value stops the process with a message naming the setting.
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
                     ?? throw new InvalidOperationException("AddWorkerFaults must come after the ledger is registered (AddDedupWorker).");
        services.Remove(ledger);
        services.AddSingleton<ILedger>(sp => new FaultInjectingLedger(Inner(sp, ledger), faults));
        services.AddSingleton<IWorkerPipeExtension>(new FaultPipeExtension(faults));
        if (faults.LogOutcomes)
            services.AddHostedService<OutcomeProbe>();
        return builder;
    }

    static ILedger Inner(IServiceProvider provider, ServiceDescriptor descriptor) =>
        descriptor.ImplementationInstance as ILedger
        ?? (ILedger?)descriptor.ImplementationFactory?.Invoke(provider)
        ?? (ILedger)ActivatorUtilities.CreateInstance(provider, descriptor.ImplementationType!);
}
