using System.Collections.Concurrent;
using System.Reflection;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Pipeline;

/// <summary>
/// Finds the takeover check for a message taken as <typeparamref name="TMessage"/>: the one registered for the type
/// itself, else for its base classes, else for its interfaces. MassTransit may deliver a message to one consumer first
/// as its concrete type and then as an interface; the claim is made by whichever pass comes first, so a check
/// registered for the interface must answer for the concrete pass too.
/// </summary>
internal static class TakeoverChecks<TMessage>
    where TMessage : class
{
    static readonly Type[] Candidates = [.. Hierarchy()];
    static readonly ConcurrentDictionary<Type, Check> Invokers = new();
    static readonly MethodInfo InvokeMethod = typeof(TakeoverChecks<TMessage>).GetMethod(nameof(InvokeAsync), BindingFlags.NonPublic | BindingFlags.Static)!;

    public delegate Task<TakeoverVerdict> Check(IServiceProvider services, TakeoverAsk ask, ConsumeContext<TMessage> context, CancellationToken cancellationToken);

    /// <summary>The check to ask, or null when none is registered for the type or anything it derives from.</summary>
    public static Check? Find(IServiceProvider services)
    {
        if (services.GetService<IServiceProviderIsService>() is not { } registry)
            return null;
        foreach (var type in Candidates)
        {
            if (registry.IsService(typeof(IDedupTakeoverCheck<>).MakeGenericType(type)))
                return Invokers.GetOrAdd(type, static t => InvokeMethod.MakeGenericMethod(t).CreateDelegate<Check>());
        }

        return null;
    }

    static async Task<TakeoverVerdict> InvokeAsync<T>(IServiceProvider services, TakeoverAsk ask, ConsumeContext<TMessage> context, CancellationToken cancellationToken)
        where T : class
    {
        var scope = services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var check = scope.ServiceProvider.GetRequiredService<IDedupTakeoverCheck<T>>();

            // ConsumeContext<out T>: the context of a TMessage is one of every type TMessage derives from.
            var takeover = new DedupTakeover<T>(ask.Key, ask.PreviousEpoch, ask.Epoch, (ConsumeContext<T>)context, ask.Owner);
            return await check.CheckAsync(takeover, cancellationToken).ConfigureAwait(false);
        }
    }

    static IEnumerable<Type> Hierarchy()
    {
        for (var type = typeof(TMessage); type is not null && type != typeof(object); type = type.BaseType)
            yield return type;
        foreach (var contract in typeof(TMessage).GetInterfaces())
        {
            if (contract.IsVisible)
                yield return contract;
        }
    }
}

/// <summary>What a takeover check is asked about.</summary>
internal readonly record struct TakeoverAsk(string Key, long PreviousEpoch, long Epoch, Type Owner);
